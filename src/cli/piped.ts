/**
 * Non-interactive mode (stdin is not a terminal, or --json): every input line
 * is a message for the room. Made for scripts, so it is strict about its exit
 * status: 0 only when input ended and every message was acknowledged by the
 * server; otherwise a one-line reason on stderr and 1. Received events go to
 * stdout (human lines, or one protobuf-JSON object per event with --json);
 * everything about the client itself (errors, reconnects) goes to stderr, so
 * stdout stays parseable.
 */
import { once } from "node:events";
import * as readline from "node:readline";
import { toJson } from "@bufbuild/protobuf";
import { ServerEventSchema } from "../../gen/chat/v1/chat_pb.js";
import { createChatClient } from "../client/transport.js";
import { DEFAULT_PIPED_MAX_RETRIES, type CliOptions } from "./args.js";
import { ChatSession, type SessionEnd } from "./chat-session.js";
import { formatEvent } from "./format.js";

export interface PipedIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export async function runPiped(opts: CliOptions, io: PipedIo): Promise<number> {
  const out = (line: string) => io.stdout.write(`${line}\n`);
  const err = (line: string) => io.stderr.write(`chat: ${line}\n`);
  const session = new ChatSession({
    client: createChatClient(opts.server, { token: opts.token, ca: opts.ca }),
    server: opts.server,
    nickname: opts.name,
    maxRetries: opts.maxRetries ?? DEFAULT_PIPED_MAX_RETRIES,
  });
  let failed = false;

  session.on("event", (event) => {
    if (opts.json) out(JSON.stringify(toJson(ServerEventSchema, event)));
    if (event.event.case === "error") {
      // The stream stays usable; say what went wrong and carry on.
      for (const line of formatEvent(event, { color: false })) err(line.replace(/^!!! /, ""));
    } else if (!opts.json) {
      for (const line of formatEvent(event, { color: false })) out(line);
    }
  });
  session.on("notice", (n) => err(n.text));
  session.on("sendFailed", (f) => {
    failed = true;
    err(`message not delivered to #${f.room} (${f.reason}): ${JSON.stringify(f.text)}`);
  });
  session.on("joinFailed", (f) => {
    failed = true;
    err(`cannot join #${f.room}: ${f.message}`);
    // Nothing we read could be delivered: stop instead of swallowing input.
    if (f.room === opts.room) void session.abort();
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
    for await (const line of lines) {
      if (end !== undefined) break;
      if (line === "") continue; // the server rejects empty messages; blank lines are not messages
      // Backpressure: a long input waits here instead of overflowing the outbox.
      while (session.outboxFull && end === undefined) await Promise.race([once(session, "outboxSpace"), done]);
      if (end !== undefined) break;
      const sent = session.send(opts.room, line);
      if (!sent.ok) {
        failed = true;
        err(sent.reason);
      }
    }
    lines.close();
    // Input is over: half-close once everything is acknowledged (reconnecting if need be).
    if (end === undefined) await session.finish();
  }
  await done;
  if (!end!.ok) {
    err(end!.message);
    return 1;
  }
  if (session.unacknowledged > 0) {
    err(`${session.unacknowledged} message(s) were not acknowledged`);
    return 1;
  }
  return failed ? 1 : 0;
}

function waitForRoom(session: ChatSession, room: string): Promise<void> {
  return new Promise((resolve) => {
    const live = (name: string) => {
      if (name !== room) return;
      session.off("roomLive", live);
      resolve();
    };
    session.on("roomLive", live);
  });
}
