/** `npm start`: parse configuration, start the server, stop cleanly on SIGINT/SIGTERM. */
import { ConfigError, helpText, parseConfig } from "./config.js";
import { startChatServer } from "./server.js";

async function main(): Promise<void> {
  let config;
  try {
    config = parseConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`chat-server: ${err.message}\n\n${helpText("npm start --")}`);
      process.exit(2);
    }
    throw err;
  }
  if (config === "help") {
    console.log(helpText("npm start --"));
    return;
  }
  let server;
  try {
    server = await startChatServer(config);
  } catch (err) {
    console.error(`chat-server: ${(err as Error).message}`);
    process.exit(1);
  }
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(1); // a second signal: stop now
    stopping = true;
    server.close().then(() => process.exit(0));
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

void main();
