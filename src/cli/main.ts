/**
 * The `chat` command (`npm run chat -- --name alice [--room lobby]`): parse flags, pick the mode
 * (interactive with a terminal on stdin, line-per-message otherwise), and
 * turn every way of ending into an exit status with at most one line of
 * explanation. A user never sees a stack trace (set CHAT_DEBUG=1 to get one).
 */
import { parseCliArgs, usage, UsageError } from "./args.js";
import { runInteractive } from "./interactive.js";
import { runPiped } from "./piped.js";

function fail(err: unknown): never {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`chat: internal error: ${message.split("\n")[0]}\n`);
  if (process.env.CHAT_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ""}\n`);
  process.exit(70);
}

/** Exit once what we wrote has been handed to the OS (stdout may be a slow pipe). */
function exit(code: number): void {
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write("", done);
  process.stderr.write("", done);
}

async function main(): Promise<number> {
  let opts;
  try {
    opts = parseCliArgs(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`chat: ${err.message}\n\n${usage("chat")}`);
    return 2;
  }
  if (opts === "help") {
    process.stdout.write(usage("chat"));
    return 0;
  }
  // --json output is meant for programs, so it always uses the line mode.
  if (process.stdin.isTTY && process.stdout.isTTY && !opts.json) {
    return runInteractive(opts, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env });
  }
  return runPiped(opts, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });
}

process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);
// A closed pipe on stdout (e.g. `| head`) is the reader saying it has enough.
process.stdout.on("error", (err: NodeJS.ErrnoException) => (err.code === "EPIPE" ? process.exit(0) : fail(err)));

main().then(exit, fail);
