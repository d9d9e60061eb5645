/**
 * Interactive mode (stdin is a terminal): a readline prompt showing the
 * current room, slash commands, and incoming events printed above the line
 * being typed (PromptScreen). All chat state lives in ChatSession; this file
 * only maps keystrokes to session calls and events to lines, plus the unary
 * look-around RPCs (/rooms, /who, /history), which need no session.
 */
import * as readline from "node:readline";
import { createChatClient, type ChatClient } from "../client/transport.js";
import type { CliOptions } from "./args.js";
import { ChatSession } from "./chat-session.js";
import { COMMAND_HELP, parseLine, type Command } from "./commands.js";
import { describeError } from "./errors.js";
import { formatEvent, formatMembers, formatMessage, formatNotice, sanitize, useColor } from "./format.js";
import { PromptScreen } from "./prompt-screen.js";

export interface InteractiveIo {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
}

/** How long /quit waits for unacknowledged messages before giving up on them. */
const QUIT_GRACE_MS = 5000;
/** Deadline of the unary look-around calls. */
const UNARY_TIMEOUT_MS = 5000;

export async function runInteractive(opts: CliOptions, io: InteractiveIo): Promise<number> {
  const color = useColor(io.stdout, io.env);
  const client = createChatClient(opts.server, { token: opts.token, ca: opts.ca });
  const session = new ChatSession({ client, server: opts.server, nickname: opts.name, maxRetries: opts.maxRetries ?? Infinity });
  let current: string | undefined = opts.room;
  const promptFor = () => (current ? `[#${current}] ` : "[no room] ");

  const rl = readline.createInterface({ input: io.stdin, output: io.stdout, terminal: true, historySize: 500, prompt: promptFor() });
  const screen = new PromptScreen(rl, io.stdout);
  const say = (level: "info" | "warn" | "error", text: string) => screen.print(formatNotice(level, text, color));
  const setCurrent = (room: string | undefined) => {
    current = room;
    screen.setPrompt(promptFor());
  };

  session.on("event", (event) => screen.print(...formatEvent(event, { color, currentRoom: current })));
  session.on("notice", (n) => say(n.level, n.text));
  session.on("sendFailed", (f) => say("error", `not delivered to #${f.room} (${f.reason}): ${f.text}`));
  session.on("joinFailed", (f) => {
    say("error", `could not join #${f.room}: ${f.message}`);
    if (current === f.room) setCurrent(session.roomNames[0]);
  });
  session.on("roomLeft", (room) => {
    if (current === room) setCurrent(session.roomNames[0]);
  });

  let quitting = false;
  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (resolveExit = resolve));

  const quit = async () => {
    if (quitting) return;
    quitting = true;
    const pending = session.unacknowledged;
    if (pending > 0) say("info", `waiting up to ${QUIT_GRACE_MS / 1000} s for ${pending} message(s) to be acknowledged (Ctrl+C to quit now)`);
    screen.close();
    rl.close();
    const timer = setTimeout(() => void session.abort(), QUIT_GRACE_MS);
    await session.finish();
    clearTimeout(timer);
    if (session.unacknowledged > 0) {
      io.stderr.write(formatNotice("error", `${session.unacknowledged} message(s) were not delivered`, useColor(io.stderr, io.env)) + "\n");
      resolveExit(1);
    } else resolveExit(0);
  };

  const execute = async (command: Command, line: string): Promise<void> => {
    switch (command.kind) {
      case "none":
        return;
      case "say": {
        screen.eraseSubmitted(promptFor(), line);
        if (!current) return say("error", "you are not in a room; /join one first");
        const sent = session.send(current, command.text);
        if (!sent.ok) return say("error", sent.reason);
        if (!session.isLive(current)) {
          const preview = command.text.length > 40 ? `${command.text.slice(0, 40)}…` : command.text;
          say("info", `queued until #${current} is ${session.connected ? "joined" : "reconnected"}: ${sanitize(preview)}`);
        }
        return;
      }
      case "join": {
        if (session.roomNames.includes(command.room)) {
          setCurrent(command.room);
          return say("info", `already in #${command.room}; now sending there`);
        }
        const joined = session.join(command.room);
        if (!joined.ok) return say("error", joined.reason);
        setCurrent(command.room);
        return;
      }
      case "leave": {
        const room = command.room ?? current;
        if (!room) return say("error", "you are not in a room");
        const left = session.leave(room);
        if (!left.ok) return say("error", left.reason);
        if (session.unacknowledged > 0) say("info", `leaving #${room} once your messages there are acknowledged`);
        if (current === room) setCurrent(session.roomNames[0]);
        return;
      }
      case "switch":
        if (!session.roomNames.includes(command.room)) return say("error", `not in #${command.room}; /join it first`);
        setCurrent(command.room);
        return;
      case "rooms":
        return listRooms(client, session, opts.server, screen, color);
      case "who": {
        const room = command.room ?? current;
        if (!room) return say("error", "which room? /who <room>");
        return listMembers(client, room, opts.server, screen, color);
      }
      case "history":
        if (!current) return say("error", "you are not in a room; /join one first");
        return showHistory(client, current, command.count, opts.server, screen, color);
      case "help":
        return screen.print(...COMMAND_HELP.map((l) => `    ${l}`));
      case "quit":
        return quit();
      case "invalid":
        return say("error", command.message);
    }
  };

  rl.on("line", (line) => {
    void execute(parseLine(line), line).catch((err) => say("error", describeError(err, opts.server)));
    // Async commands print their result above the prompt later; the prompt comes back now.
    if (!quitting) rl.prompt();
  });
  rl.on("close", () => void quit()); // Ctrl+D
  rl.on("SIGINT", () => void quit()); // Ctrl+C

  screen.print(formatNotice("info", `connecting to ${opts.server} as ${opts.name}; type /help for commands`, color));
  session.join(opts.room);
  void session.start().then((end) => {
    if (end.ok) return;
    // Gave up (or never connected): restore the terminal, then one line on stderr.
    quitting = true;
    screen.close();
    rl.close();
    io.stderr.write(`chat: ${end.message}\n`);
    resolveExit(1);
  });
  rl.prompt();
  return exited;
}

async function listRooms(client: ChatClient, session: ChatSession, server: string, screen: PromptScreen, color: boolean): Promise<void> {
  try {
    const { rooms } = await client.listRooms({}, { timeoutMs: UNARY_TIMEOUT_MS });
    if (rooms.length === 0) return screen.print(formatNotice("info", "no rooms have members", color));
    const mine = new Set(session.roomNames);
    screen.print(
      formatNotice("info", "rooms (* = joined):", color),
      ...rooms.map((r) => `    ${mine.has(r.name) ? "*" : " "} #${r.name}  ${r.memberCount} member${r.memberCount === 1 ? "" : "s"}, last message #${r.lastSeq}`),
    );
  } catch (err) {
    screen.print(formatNotice("error", `/rooms failed: ${describeError(err, server)}`, color));
  }
}

async function listMembers(client: ChatClient, room: string, server: string, screen: PromptScreen, color: boolean): Promise<void> {
  try {
    const { members } = await client.listMembers({ room }, { timeoutMs: UNARY_TIMEOUT_MS });
    screen.print(
      formatNotice("info", members.length === 0 ? `#${room} has no members` : `#${room} (${members.length}): ${formatMembers(members)}`, color),
    );
  } catch (err) {
    screen.print(formatNotice("error", `/who failed: ${describeError(err, server)}`, color));
  }
}

async function showHistory(client: ChatClient, room: string, count: number, server: string, screen: PromptScreen, color: boolean): Promise<void> {
  try {
    const page = await client.getHistory({ room, limit: count }, { timeoutMs: UNARY_TIMEOUT_MS });
    if (page.messages.length === 0) return screen.print(formatNotice("info", `#${room} has no history`, color));
    screen.print(
      formatNotice("info", `last ${page.messages.length} message(s) of #${room}${page.hasMore ? " (older ones exist)" : ""}:`, color),
      ...page.messages.map((m) => formatMessage(m, { color, currentRoom: room })),
      formatNotice("info", "end of history", color),
    );
  } catch (err) {
    screen.print(formatNotice("error", `/history failed: ${describeError(err, server)}`, color));
  }
}
