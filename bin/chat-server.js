#!/usr/bin/env node
// The server process itself (no npm, sh or tsx in between), so SIGTERM and
// SIGINT from a process manager reach the code that drains the streams.
import "../dist/src/server/main.js";
