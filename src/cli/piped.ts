/**
 * Non-interactive mode (stdin is not a terminal, or --json): every input line
 * is a message for the room. Made for scripts, so it is strict about its exit
 * status: 0 only when input ended and every message was acknowledged by the
 * server; otherwise a one-line reason on stderr and 1. Received events go to
 * stdout (human lines, or one protobuf-JSON object per event with --json);
 * everything about the client itself (errors, reconnects) goes to stderr, so
 * stdout stays parseable. At the end of input the session finishes cleanly
 * (the others see us leave, not disconnect).
 *
 * Lines are named by their number in the input ("line 42 not sent to #r: …"),
 * once each: a line the server refuses for good as it is refused, and the
 * lines still waiting when the client gives up (the connection lost for good,
 * or the server refusing for STALL_LIMIT_MS without storing anything) at the end.
 */
import * as readline from "node:readline";
import { toJson } from "@bufbuild/protobuf";
import { ServerEventSchema } from "../../gen/chat/v1/chat_pb.js";
import { ChatSession, REMOVALS, type SessionEnd } from "../client/chat-session.js";
import { createGrpcSessionTransport } from "../client/grpc-transport.js";
import { DEFAULT_PIPED_MAX_RETRIES, type CliOptions } from "./args.js";
import { formatError, formatEvent, formatRemoval } from "./format.js";

/**
 * After input ended, how long the server may go on refusing (or not answering)
 * without storing one of our messages before the client gives up and names
 * what it could not send. While it runs, the outbox keeps retrying; a script
 * needs an end, though, and this is it.
 */
const STALL_LIMIT_MS = 120_000;

export interface PipedIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export async function runPiped(opts: CliOptions, io: PipedIo): Promise<number> {
  const out = (line: string) => io.stdout.write(`${line}\n`);
  const err = (line: string) => io.stderr.write(`chat: ${line}\n`);
  const maxRetries = opts.maxRetries ?? DEFAULT_PIPED_MAX_RETRIES;
  const session = new ChatSession({
    transport: createGrpcSessionTransport(opts.server, { token: opts.token, ca: opts.ca }),
    server: opts.server,
    nickname: opts.name,
    maxRetries,
  });
  let failed = false;
  /** Input line number of each message still in the outbox, to name it. */
  const lineOf = new Map<string, number>();
  const notSent = (line: number | undefined, room: string, reason: string, text: string) =>
    err(`${line === undefined ? "message" : `line ${line}`} not sent to #${room}: ${reason}: ${JSON.stringify(clip(text))}`);

  const retrying = maxRetries === 0 ? "not reconnecting (--max-retries 0)" : Number.isFinite(maxRetries) ? `reconnecting (up to ${maxRetries} attempts)` : "reconnecting";
  session.on("event", (event) => {
    const e = event.event;
    if (opts.json) out(JSON.stringify(toJson(ServerEventSchema, event)));
    // A shutdown is about the connection, not the room: one line on stderr (the drop that follows adds nothing).
    else if (e.case === "shutdown") err(`${formatEvent(event, { color: false })[0].replace(/^\*\*\* /, "")}; ${retrying}`);
    // Errors are said once, on stderr, by the handlers below; so is being taken out of the room.
    else if (e.case !== "error" && !(e.case === "left" && REMOVALS.has(e.value.reason))) for (const line of formatEvent(event, { color: false, history: opts.history })) out(line);
  });
  // The stream stays usable after a refused command; say what went wrong and carry on.
  session.on("commandError", (e) => err(formatError(e, false).replace(/^!!! /, "")));
  session.on("notice", (n) => err(n.text));
  session.on("disconnected", (d) => {
    if (!d.shutdown || opts.json) err(`connection lost (${d.reason}); ${retrying}`);
  });
  session.on("connected", (c) => {
    if (c.reconnect) err(`reconnected to ${c.server}`);
  });
  session.on("sendFailed", (f) => {
    failed = true;
    notSent(lineOf.get(f.id), f.room, f.reason, f.text);
    lineOf.delete(f.id);
  });
  let lastProgress = Date.now();
  session.on("ack", (m) => {
    lineOf.delete(m.clientMsgId);
    lastProgress = Date.now();
  });
  const refused = (f: { room: string; message: string }) => {
    failed = true;
    err(`cannot join #${f.room}: ${f.message}`);
    // Nothing we read could be delivered: stop instead of swallowing input.
    if (f.room === opts.room) void session.abort();
  };
  session.on("joinFailed", refused);
  session.on("nicknameRefused", refused);
  // Kicked, banned, or the room deleted: what is left of the input cannot be delivered either.
  session.on("removed", (r) => {
    failed = true;
    err(formatRemoval(r.room, r.reason, r.action, { color: false }).replace(/^!!! /, ""));
    if (r.room === opts.room) void session.abort();
  });

  session.join(opts.room);
  let end: SessionEnd | undefined;
  const done = session.start().then((e) => (end = e));

  // Wait for the join to be confirmed before reading input, so a refused
  // join (e.g. a taken nickname) fails before anything is consumed.
  await Promise.race([waitForRoom(session, opts.room), done]);
  if (end === undefined) {
    const lines = readline.createInterface({ input: io.stdin, crlfDelay: Infinity });
    // If the session ends (gave up, join failed) stop reading, even if stdin stays open.
    void done.then(() => lines.close());
    let lineNo = 0;
    for await (const line of lines) {
      lineNo++;
      if (end !== undefined) break;
      if (line === "") continue; // the server rejects empty messages; blank lines are not messages
      // Backpressure: a long input waits here instead of overflowing the outbox.
      while (session.outboxFull && end === undefined) await Promise.race([session.next("outboxSpace"), done]);
      if (end !== undefined) break;
      const sent = session.send(opts.room, line);
      if (sent.ok) lineOf.set(sent.id, lineNo);
      else {
        failed = true;
        notSent(lineNo, opts.room, sent.reason, line);
      }
    }
    lines.close();
    // Input is over: finish once everything is acknowledged (reconnecting if need be),
    // unless the server stores nothing of ours for too long.
    if (end === undefined) {
      lastProgress = Date.now();
      const watchdog = setInterval(() => {
        if (Date.now() - lastProgress >= STALL_LIMIT_MS) {
          err(`nothing was stored for ${STALL_LIMIT_MS / 1000} s; giving up`);
          void session.abort();
        }
      }, 1000);
      await session.finish();
      clearInterval(watchdog);
    }
  }
  await done;
  // Name every line still waiting: what a script has to send again.
  const waiting = session.pending();
  for (const m of waiting) notSent(lineOf.get(m.id), m.room, "not acknowledged by the server", m.text);
  if (!end!.ok) {
    err(end!.message);
    return 1;
  }
  return failed || waiting.length > 0 ? 1 : 0;
}

/** Long lines are named by their start: the line number says which. */
function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

function waitForRoom(session: ChatSession, room: string): Promise<void> {
  return new Promise((resolve) => {
    const off = session.on("roomLive", (name) => {
      if (name !== room) return;
      off();
      resolve();
    });
  });
}
