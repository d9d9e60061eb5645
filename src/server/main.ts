/**
 * The `chat-server` command (`npm start`): parse configuration, start the
 * server, stop cleanly on SIGINT/SIGTERM. Exit status: 0 after a clean stop,
 * 1 when the server cannot start (or a second signal cuts the drain short),
 * 2 for bad flags or environment variables.
 */
import type { Logger } from "pino";
import { ConfigError, helpText, parseConfig } from "./config.js";
import { createLogger, endLog } from "./logger.js";
import { startChatServer } from "./server.js";

const PROGRAM = "chat-server";

async function main(): Promise<void> {
  let config;
  try {
    config = parseConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      // One line: the full help would bury the one thing that is wrong.
      console.error(`${PROGRAM}: ${err.message}; see --help`);
      process.exit(2);
    }
    throw err;
  }
  if (config === "help") {
    console.log(helpText(PROGRAM));
    return;
  }
  // Made here, not by the server: the exit below must finish it (endLog).
  const log = createLogger({ level: config.logLevel, format: config.logFormat });
  // Signals are handled from the start: one that arrives while the server is
  // still starting (it may already have said where it listens) stops it as
  // soon as it has started, cleanly.
  let server: Awaited<ReturnType<typeof startChatServer>> | undefined;
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(1); // a second signal: stop now
    stopping = true;
    if (server) drain(server, log);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  try {
    server = await startChatServer(config, { log });
  } catch (err) {
    console.error(`${PROGRAM}: ${(err as Error).message}`);
    process.exit(1);
  }
  if (stopping) drain(server, log);
}

function drain(server: Awaited<ReturnType<typeof startChatServer>>, log: Logger): void {
  server.close().then(
    // The last lines are written (or their reader is known to be gone) before the exit.
    () => endLog(log).then(() => process.exit(0)),
    (err: Error) => {
      console.error(`${PROGRAM}: stopping failed: ${err.message}`);
      process.exit(1);
    },
  );
}

void main();
