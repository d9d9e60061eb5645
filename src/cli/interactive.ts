/**
 * Interactive mode (stdin is a terminal): a readline prompt showing the
 * current room, slash commands, incoming events printed above the line being
 * typed, and a status line for what changes in place (PromptScreen,
 * StatusLine). All chat state lives in the client core's ChatSession; this
 * file maps keystrokes to session calls and session events to lines.
 */
import * as readline from "node:readline";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { LeaveReason } from "../../gen/chat/v1/chat_pb.js";
import { ChatSession, REMOVALS } from "../client/chat-session.js";
import { RoomCommandError } from "../client/room-admin.js";
import { seenByLine } from "../client/read-receipts.js";
import { prepareNickname } from "../hub/nickname.js";
import { describeError } from "../client/errors.js";
import { createGrpcSessionTransport } from "../client/grpc-transport.js";
import type { CliOptions } from "./args.js";
import { COMMAND_HELP, parseLine, type Command } from "./commands.js";
import { formatError, formatEvent, formatNotice, formatRemoval, sanitize, useColor } from "./format.js";
import { LookAround } from "./look-around.js";
import { PromptScreen } from "./prompt-screen.js";
import { formatMentionText, mentionsIn } from "./read-marks.js";
import { actionVerb, type ActionSpec } from "./room-commands.js";
import { StatusLine } from "./status.js";

export interface InteractiveIo {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
}

/** How long /quit waits for unacknowledged messages before giving up on them. */
const QUIT_GRACE_MS = 5000;
/** Lines ↑ can bring back. */
const HISTORY_SIZE = 500;

export async function runInteractive(opts: CliOptions, io: InteractiveIo): Promise<number> {
  const color = useColor(io.stdout, io.env);
  const transport = createGrpcSessionTransport(opts.server, { token: opts.token, ca: opts.ca });
  // Signed in, the server keeps where we have read each room (and tells our other sessions).
  const session = new ChatSession({ transport, server: opts.server, nickname: opts.name, maxRetries: opts.maxRetries ?? Infinity, signedIn: opts.token !== undefined });
  // /seq: message numbers on message lines (off by default: they are for /edit, /delete, /reply).
  let showSeq = false;
  const look = new LookAround(transport.client, color, () => showSeq);
  let current: string | undefined = opts.room;
  // A direct-message room is shown by the other user's id, not by its dm.<hash> name.
  const labelOf = (room: string) => {
    const user = session.directUser(room);
    return user ? `@${sanitize(user)}` : `#${room}`;
  };
  const promptFor = () => {
    if (!current) return "[no room] ";
    return session.roomPhase(current) === "parked" ? `[${labelOf(current)}, not joined] ` : `[${labelOf(current)}] `;
  };

  // Our own array, so that a draft cleared with Ctrl-C can be put where ↑ finds it.
  const history: string[] = [];
  const rl = readline.createInterface({ input: io.stdin, output: io.stdout, terminal: true, history, historySize: HISTORY_SIZE, prompt: promptFor() });
  const screen = new PromptScreen(rl, io.stdout);
  const status = new StatusLine((text) => screen.setStatus(text));
  const say = (level: "info" | "warn" | "error", text: string) => screen.print(formatNotice(level, text, color));
  /** Per room, the last message number printed: what the room is read up to once it is on screen. */
  const lastShown = new Map<string, bigint>();
  const setCurrent = (room: string | undefined) => {
    current = room;
    // Its lines were printed while it was in the background: now it is the room the user looks at.
    const seen = room === undefined ? undefined : lastShown.get(room);
    if (room !== undefined && seen !== undefined) session.markRead(room, seen);
    screen.setPrompt(promptFor());
    status.setTyping(room ? session.typingIn(room) : []);
    showSeen();
  };
  /** Who else has read the current room up to its last entry goes in the status line (read receipts). */
  const showSeen = () => {
    if (!current) return status.setSeen("");
    const last = session.lastSeq(current);
    status.setSeen(seenByLine(session.seenBy(current, last)));
  };
  session.on("receipts", ({ room }) => {
    if (room === current) showSeen();
  });
  const format = {
    color,
    history: opts.history,
    roomLabel: labelOf,
    lookup: (room: string, seq: bigint) => session.message(room, seq),
    newMessagesLine: true,
  };

  session.on("event", (event) => {
    const e = event.event;
    // Errors come as commandError (or joinFailed, sendFailed...) so each is said once.
    if (e.case === "error") return;
    // Leaving a room only to rejoin it under a new nickname is not worth a line.
    // Losing a room to another connection of ours is said once, by the session's notice.
    if (e.case === "left" && (session.roomNames.includes(e.value.room) || e.value.reason === LeaveReason.REPLACED)) return;
    // Being kicked, banned or the room deleted is said by the "removed" handler, with who and why.
    if (e.case === "left" && REMOVALS.has(e.value.reason)) return;
    // Our own renames (and renames back) are said once, by the nickname events below.
    if (e.case === "memberRenamed" && (e.value.oldNickname === session.nickname || e.value.newNickname === session.nickname)) return;
    // A line leaves out its #room only while we are in one room. In two or more, every line names
    // its room: the current room changes with /switch, and lines already on screen must still say
    // where they were said.
    const rooms = session.roomNames;
    screen.print(...formatEvent(event, { ...format, showSeq, me: session.userId, currentRoom: rooms.length === 1 ? rooms[0] : undefined }));
    // What is printed in the room on screen is read (signed in, the server keeps it).
    const shown = e.case === "message" ? { room: e.value.room, seq: e.value.seq } : e.case === "joined" ? { room: e.value.room, seq: e.value.lastSeq } : undefined;
    if (shown && shown.seq > 0n) {
      lastShown.set(shown.room, shown.seq);
      if (shown.room === current) session.markRead(shown.room, shown.seq);
    }
    if ((e.case === "message" || e.case === "joined") && e.value.room === current) showSeen();
  });
  // A mention in the room on screen is its highlighted message line; elsewhere (another room, or one not joined) a line says so.
  session.on("mention", (m) => {
    if (m.room !== current) screen.print(formatNotice("warn", formatMentionText(m, labelOf(m.room), sanitize), color));
  });
  session.on("commandError", (e) => screen.print(formatError(e, color)));
  session.on("notice", (n) => say(n.level, n.text));
  session.on("sendFailed", (f) => {
    if (f.reaction) {
      const what = f.reaction.remove ? `take ${f.reaction.emoji} off` : `react ${f.reaction.emoji} to`;
      return say("error", `could not ${what} #${f.reaction.seq} in ${labelOf(f.room)}: ${sanitize(f.reason)}`);
    }
    if (!f.change) return say("error", `not delivered to #${f.room} (${f.reason}): ${sanitize(f.text)}`);
    say("error", `could not ${f.change.kind} #${f.change.seq} in ${labelOf(f.room)}: ${sanitize(f.reason)}`);
  });
  session.on("joinFailed", (f) => {
    say("error", `could not join #${f.room}: ${f.message}`);
    if (current === f.room) setCurrent(session.roomNames[0]);
  });
  let renamed = false;
  session.on("nickname", (name) => {
    // The first one is the join's (its line says "joined as"); later ones answer /nick.
    if (renamed) say("info", `you are now ${sanitize(name)}`);
    screen.setPrompt(promptFor());
  });
  session.on("nicknameChangeRefused", (f) => {
    say("error", `nickname not changed (#${f.room}: ${f.message}); you are still ${sanitize(session.nickname)}`);
  });
  session.on("nicknameRefused", (f) => {
    say("error", `cannot join #${f.room}: ${f.message}; type /nick NAME to pick another nickname`);
    screen.setPrompt(promptFor());
  });
  session.on("removed", (r) => screen.print(formatRemoval(r.room, r.reason, r.action, format)));
  // Someone opened a direct conversation with us: join it, so what they say shows up here.
  session.on("directOpened", (d) => {
    if (d.asked || session.roomNames.includes(d.room)) return;
    session.join(d.room);
    say("info", `${sanitize(d.userId)} opened a direct conversation with you: /switch @${sanitize(d.userId)} to answer`);
  });
  session.on("roomLeft", (room) => {
    if (current === room) setCurrent(session.roomNames[0]);
  });
  session.on("roomLive", () => screen.setPrompt(promptFor()));
  session.on("typing", ({ room, nicknames }) => {
    if (room === current) status.setTyping(nicknames);
  });
  // Reconnecting: one line when the connection drops, a status line while it is down, one line when back.
  session.on("disconnected", (d) => {
    // After a shutdown notice, the drop that follows says nothing new.
    if (!d.shutdown) say("warn", `connection lost (${d.reason}); reconnecting`);
  });
  session.on("reconnecting", (r) => {
    // The first wait follows the line that said why the connection went; later ones say why the
    // last attempt failed, without the server's address (that line named it).
    const reason = r.attempt === 1 ? undefined : r.reason.replaceAll(` ${opts.server}`, "");
    status.reconnecting({ attempt: r.attempt, at: Date.now() + r.delayMs, reason });
  });
  session.on("connected", (c) => {
    status.connected();
    if (c.reconnect) say("info", `reconnected to ${c.server}`); // the one it reached, not the --server list
  });

  let quitting = false;
  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (resolveExit = resolve));

  const quit = async () => {
    if (quitting) return;
    quitting = true;
    status.close();
    const pending = session.unacknowledged;
    if (pending > 0) say("info", `waiting up to ${QUIT_GRACE_MS / 1000} s for ${pending} message(s) to be acknowledged (Ctrl+C to quit now)`);
    screen.close();
    rl.close();
    // A clean finish: what is owed goes out, then the stream ends and the others see us leave.
    const timer = setTimeout(() => void session.abort(), QUIT_GRACE_MS);
    await session.finish();
    clearTimeout(timer);
    if (session.unacknowledged > 0) {
      io.stderr.write(formatNotice("error", `${session.unacknowledged} message(s) were not delivered`, useColor(io.stderr, io.env)) + "\n");
      resolveExit(1);
    } else resolveExit(0);
  };

  /** Sends a typed message; returns whether it went into the outbox, and what to say. */
  const sendLine = (text: string, replyTo?: bigint): { sent: boolean; notice?: string; level?: "info" | "error" } => {
    // An unsent line stays on screen (and in ↑ history), so nothing typed is lost.
    if (!current) return { sent: false, level: "error", notice: "not sent: you are not in a room; /join one first (↑ brings the line back)" };
    if (session.roomPhase(current) === "parked") {
      return { sent: false, level: "error", notice: `not sent: you are not in #${current} yet; /nick NAME picks another nickname (↑ brings the line back)` };
    }
    // "@bob" names a member we know of in the room: they are told (a mention); an unknown name is just text.
    const room = current;
    const mentions = mentionsIn(text, (name) => session.userIdOf(room, name));
    const sent = session.send(current, text, { replyTo, mentions });
    if (!sent.ok) return { sent: false, level: "error", notice: `not sent: ${sent.reason}` };
    if (session.isLive(current)) return { sent: true };
    const preview = text.length > 40 ? `${text.slice(0, 40)}…` : text;
    return { sent: true, level: "info", notice: `queued until #${current} is ${session.connected ? "joined" : "reconnected"}: ${sanitize(preview)}` };
  };

  const execute = (command: Exclude<Command, { kind: "say" | "reply" }>): void => {
    const later = (work: Promise<string[]>, what: string) =>
      void work.then(
        (lines) => screen.print(...lines),
        (err) => say("error", `${what} failed: ${describeError(err, opts.server)}`),
      );
    switch (command.kind) {
      case "none":
        return;
      case "join": {
        if (session.roomNames.includes(command.room)) {
          setCurrent(command.room);
          return say("info", `already in #${command.room}; now sending there`);
        }
        const joined = session.join(command.room);
        if (!joined.ok) say("error", joined.reason);
        else setCurrent(command.room);
        return;
      }
      case "leave": {
        const room = command.room ?? current;
        if (!room) {
          say("error", "you are not in a room");
          return;
        }
        const left = session.leave(room);
        if (!left.ok) say("error", left.reason);
        else {
          if (session.unacknowledged > 0) say("info", `leaving #${room} once your messages there are acknowledged`);
          if (current === room) setCurrent(session.roomNames[0]);
        }
        return;
      }
      case "switch": {
        // "@bob" names a direct-message room by its other user.
        const room = session.roomNames.find((r) => labelOf(r) === command.room) ?? command.room;
        if (!session.roomNames.includes(room)) say("error", `not in ${command.room.startsWith("@") ? command.room : `#${command.room}`}; /join it first`);
        else setCurrent(room);
        return;
      }
      case "nick": {
        renamed = true;
        const prepared = prepareNickname(command.nickname);
        if (prepared.ok && prepared.nickname === session.nickname) return say("info", `you are already ${sanitize(session.nickname)}`);
        const changed = session.changeNickname(command.nickname);
        if (!changed.ok) say("error", changed.reason);
        else if (!session.connected && session.roomNames.length > 0) say("info", `you become ${sanitize(command.nickname)} once reconnected and back in your rooms`);
        else screen.setPrompt(promptFor());
        return;
      }
      case "rooms":
        // Signed in, "my rooms" (private rooms, direct messages) come first.
        later(look.rooms(new Set(session.roomNames), opts.token ? () => session.myRooms() : undefined), "/rooms");
        return;
      case "create": {
        if (session.roomNames.includes(command.room)) return say("error", `already in #${command.room}`);
        const created = session.createRoom(command.room, { visibility: command.visibility, topic: command.topic });
        setCurrent(command.room);
        created.catch((err: unknown) => {
          say("error", `could not create #${command.room}: ${reason(err)}`);
          if (current === command.room) setCurrent(session.roomNames[0]);
        });
        return;
      }
      case "act":
        if (!current) return say("error", "you are not in a room; /join one first");
        act(current, command.action);
        return;
      case "showReceipts": {
        if (!current) return say("error", "you are not in a room");
        const receipts = session.receipts(current);
        if (!session.receiptsOn(current)) return say("info", `read receipts are off in ${labelOf(current)} (a moderator turns them on with /receipts on)`);
        if (receipts.length === 0) return say("info", `nobody else has read ${labelOf(current)} yet`);
        say("info", `read in ${labelOf(current)}: ${receipts.map((r) => `${sanitize(r.nickname)} up to #${r.readSeq}`).join(", ")}`);
        return;
      }
      case "showTopic": {
        const topic = current ? session.roomState(current)?.topic : undefined;
        if (!current) say("error", "you are not in a room");
        else say("info", topic ? `topic of ${labelOf(current)}: ${sanitize(topic)}` : `${labelOf(current)} has no topic (/topic TEXT sets one)`);
        return;
      }
      case "msg": {
        const { text } = command;
        const userId = resolveUser(current, command.user);
        session.openDirect(userId).then(
          (room) => {
            if (!session.roomNames.includes(room)) session.join(room);
            setCurrent(room);
            if (text !== undefined) {
              const sent = session.send(room, text);
              if (!sent.ok) say("error", `not sent: ${sent.reason}`);
            }
          },
          (err: unknown) => say("error", `could not open a direct conversation with ${sanitize(userId)}: ${reason(err)}`),
        );
        return;
      }
      case "who": {
        const room = command.room ?? current;
        if (!room) say("error", "which room? /who <room>");
        else later(look.who(room, command.more), "/who");
        return;
      }
      case "history":
        if (!current) say("error", "you are not in a room; /join one first");
        else later(look.history(current, command.count), "/history");
        return;
      case "edit":
      case "delete": {
        if (!current) return say("error", "you are not in a room; /join one first");
        const done = command.kind === "edit" ? session.edit(current, command.seq, command.text) : session.deleteMessage(current, command.seq);
        if (!done.ok) say("error", `could not ${command.kind} #${command.seq}: ${done.reason}`);
        return;
      }
      case "react": {
        if (!current) return say("error", "you are not in a room; /join one first");
        // Known from the kept message: nothing to send (the server would change nothing either).
        const mine = session.message(current, command.seq)?.reactions.some((c) => c.emoji === command.emoji && c.mine);
        if (mine === true && !command.remove) return say("info", `you already reacted ${command.emoji} to #${command.seq}`);
        if (mine === false && command.remove) return say("info", `you have no ${command.emoji} reaction on #${command.seq}`);
        const done = command.remove ? session.unreact(current, command.seq, command.emoji) : session.react(current, command.seq, command.emoji);
        if (!done.ok) say("error", `could not react to #${command.seq}: ${done.reason}`);
        return;
      }
      case "seq":
        showSeq = command.on ?? !showSeq;
        say("info", showSeq ? "message numbers shown (#12): /edit, /delete, /reply and /react take them; /seq off hides them" : "message numbers hidden (/seq shows them)");
        return;
      case "help":
        screen.print(...COMMAND_HELP.map((l) => `    ${l}`));
        return;
      case "quit":
        void quit();
        return;
      case "invalid":
        say("error", command.message);
        return;
      case "badNick":
        // Worded like a taken name's refusal (sendFailed above): the name we keep, not "who you were".
        say("error", `cannot change nickname to "${sanitize(command.nickname)}": ${command.reason}; you are still ${sanitize(session.nickname)}`);
        return;
    }
  };

  /** A user as typed: a nickname seen in the room stands for its user id; anything else is taken as a user id. */
  const resolveUser = (room: string | undefined, user: string): string => {
    const typed = user.startsWith("@") ? user.slice(1) : user;
    return (room && session.userIdOf(room, typed)) || typed;
  };
  const reason = (err: unknown) => sanitize(err instanceof RoomCommandError ? err.message : describeError(err, opts.server));

  /** A moderation command on a room: the room's entry for it (an action line) is the confirmation; a refusal is said here. */
  const act = (room: string, spec: ActionSpec): void => {
    const targetUser = spec.user === undefined ? undefined : resolveUser(room, spec.user);
    const action = {
      kind: spec.kind,
      targetUser,
      reason: spec.reason,
      topic: spec.topic,
      role: spec.role,
      readReceipts: spec.readReceipts,
      until: spec.durationMs === undefined ? undefined : timestampFromMs(Date.now() + spec.durationMs),
    };
    session.moderate(room, action).catch((err: unknown) => {
      const whom = targetUser === undefined ? "" : ` ${sanitize(targetUser)}`;
      say("error", `could not ${actionVerb(spec.kind)}${whom} in ${labelOf(room)}: ${reason(err)}`);
    });
  };

  rl.on("line", (line) => {
    const prompt = rl.getPrompt();
    const command = parseLine(line);
    // The submitted line is dealt with first, so that what the command prints comes below it.
    if (command.kind === "say" || command.kind === "reply") {
      // A sent message leaves the screen: its server copy comes back in its ordered place.
      const outcome = command.kind === "say" ? sendLine(command.text) : sendLine(command.text, command.seq);
      screen.submitted(prompt, line, !outcome.sent);
      if (outcome.notice) say(outcome.level ?? "info", outcome.notice);
    } else {
      screen.submitted(prompt, line, command.kind !== "none");
      execute(command);
    }
    if (!quitting) rl.prompt();
  });
  rl.on("close", () => void quit()); // Ctrl+D on an empty line
  // Ctrl+C as in a shell: with a half-typed line it only clears the line (kept where ↑ finds it);
  // on an empty line it quits.
  rl.on("SIGINT", () => {
    const draft = rl.line;
    if (draft.trim() === "") return void quit();
    history.unshift(draft);
    if (history.length > HISTORY_SIZE) history.pop();
    rl.write(null, { ctrl: true, name: "e" }); // to the end of the line,
    rl.write(null, { ctrl: true, name: "u" }); // then delete everything before the cursor
    say("info", "line cleared (↑ brings it back); Ctrl+C again or Ctrl+D quits");
  });
  // Typing indicator: any key that edits a message (not a command) in a joined room.
  io.stdin.on("keypress", () => {
    if (quitting || !current || !session.isLive(current)) return;
    if (rl.line.length > 0 && !rl.line.startsWith("/")) session.typing(current);
  });

  screen.print(formatNotice("info", `connecting to ${opts.server} as ${sanitize(opts.name)}; type /help for commands`, color));
  session.join(opts.room);
  void session.start().then((end) => {
    status.close();
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
