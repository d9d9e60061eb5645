#!/usr/bin/env node
// The terminal client, from the compiled JavaScript: no TypeScript loader at run time.
import "../dist/src/cli/main.js";
