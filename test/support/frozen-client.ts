/**
 * A chat client in a process of its own, so a test can freeze it (SIGSTOP) the
 * way a busy or suspended client stops reacting: its kernel still acknowledges
 * what arrives, but it never reads, never hangs up. Usage: frozen-client.ts PORT NICK.
 * Prints "joined" once joined; on SIGCONT it reads what came meanwhile and, once
 * its stream has closed, prints one JSON line: the shutdown notices and status seen.
 */
import { RawH2Connection } from "./hostile-h2.js";

const [port, nickname] = process.argv.slice(2);
const conn = await RawH2Connection.open(Number(port));
const stream = conn.stream();
stream.join("lobby", nickname);
await stream.waitFor("joined");
process.stdout.write("joined\n");
await stream.waitStatus(120_000).catch(() => undefined);
process.stdout.write(`${JSON.stringify({ shutdown: stream.of("shutdown").length, status: stream.status ?? null })}\n`);
conn.session.destroy();
