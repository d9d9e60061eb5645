/**
 * The web client: pick a nickname and a room, then chat. The API is the
 * server's own Connect endpoint on the same origin (connect-web over fetch),
 * so the page needs no configuration and no CORS. The session (outbox,
 * acknowledgements, reconnect, resume) is the client core the terminal client
 * uses too, over OpenSession + Command.
 */
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { ChatService } from "../../gen/chat/v1/chat_pb.js";
import { ChatSession, checkRoom, commandTransport } from "../../src/client/index.js";
import { forgetSession, loadSession, saveSession, type SavedMessage } from "./saved-session.js";
import { adoptStranded, holdTabLock, keepOutbox, tabId } from "./stranded-outbox.js";
import { Alerts } from "./ui/alerts.js";
import { ChatApp } from "./ui/chat-app.js";
import { byId } from "./ui/dom.js";

/** The API on this page's origin; with a sign-in token, every call carries it. */
function transportFor(token: string) {
  const interceptors: Interceptor[] = [];
  if (token !== "") {
    interceptors.push((next) => (req) => {
      req.header.set("authorization", `Bearer ${token}`);
      return next(req);
    });
  }
  // Binary protobuf on the wire: smaller and cheaper than JSON for the server to write.
  return createConnectTransport({ baseUrl: location.origin, useBinaryFormat: true, interceptors });
}

const login = byId("login");
const chat = byId("chat");
const form = byId<HTMLFormElement>("login-form");
const nicknameInput = byId<HTMLInputElement>("nickname");
const roomInput = byId<HTMLInputElement>("first-room");
const tokenInput = byId<HTMLInputElement>("token");
const alerts = new Alerts(byId("alert"));
let session: ChatSession | undefined;
/** Saves what a reload must keep, while a session is open. */
let persist: (() => void) | undefined;
/** The page is going away: what it saved last is what the next load gets. */
let leaving = false;
/** This tab, for its unsent messages kept where the next tab finds them if this one is closed. */
const tab = tabId();
holdTabLock(tab);

/** An error about the sign-in form: it goes when the form is sent again or the chat opens. */
function showAlert(text: string): void {
  alerts.show(text, "login");
}

interface Entry {
  nickname: string;
  token: string;
  rooms: string[];
  current?: string;
  pending: SavedMessage[];
  /** Coming back after a reload: the rooms are rejoined (our old session may still hold the nickname). */
  rejoin: boolean;
  /** Per room, the resume token that lets the rejoin take the old session's membership over. */
  tokens?: Record<string, string>;
}

/**
 * Open the session and the chat screen: a new ChatApp each time, which binds
 * its own listeners and unbinds them all when the chat ends, so signing in
 * again after a refusal behaves exactly like the first sign-in.
 */
function enter({ nickname, token, rooms, current, pending, rejoin, tokens = {} }: Entry): void {
  const transport = transportFor(token);
  const api = createClient(ChatService, transport);
  // The API client also lists "my rooms" (ListRooms mine) for the session.
  // Signed in, the server keeps where we have read each room (and tells our other tabs and devices).
  const s = new ChatSession({ transport: commandTransport(transport), server: location.origin, nickname, client: api, signedIn: token !== "" });
  session = s;
  const save = () => {
    if (leaving || session !== s) return;
    const unsent = s.pending().map(({ replyTo, ...m }) => (replyTo === undefined ? m : { ...m, replyTo: String(replyTo) }));
    saveSession({ nickname: s.nickname, signedIn: token !== "", rooms: s.roomNames, current: app.currentRoom, pending: unsent, tokens: s.resumeTokens() });
    keepOutbox(tab, { nickname: s.nickname, signedIn: token !== "", userId: s.userId, pending: unsent, savedAt: Date.now() });
  };
  const app: ChatApp = new ChatApp(
    s,
    api,
    alerts,
    (reason) => {
      // No room left (the nickname was refused, or the last room was left): back to the form, saying why if refused.
      app.dispose();
      void s.abort();
      session = undefined;
      persist = undefined;
      forgetSession();
      keepOutbox(tab, undefined);
      chat.hidden = true;
      login.hidden = false;
      if (reason !== undefined) showAlert(reason);
      nicknameInput.focus();
    },
    save,
    token !== "",
  );
  alerts.clear("login");
  login.hidden = true;
  chat.hidden = false;
  for (const room of rooms) app.join(room, { rejoin, resumeToken: tokens[room] });
  // A joined room brings its resume token: keep it for the next reload.
  s.on("roomLive", save);
  // Once a room is joined we know who we are: send what our closed tabs left unsent.
  void s.next("roomLive").then(async () => {
    const who = { nickname: s.nickname, signedIn: token !== "", userId: s.userId };
    const messages = await adoptStranded(tab, who);
    if (messages.length === 0) return;
    // Ended meanwhile: leave them for the next session, as a closed tab's.
    if (session !== s) return keepOutbox(crypto.randomUUID(), { ...who, pending: messages, savedAt: Date.now() });
    const here = app.currentRoom;
    for (const m of messages) {
      if (!s.roomNames.includes(m.room)) app.join(m.room);
      app.restorePending(m);
    }
    if (here !== undefined) app.showRoom(here);
    const n = messages.length;
    app.note(`${n === 1 ? "A message" : `${n} messages`} typed in a tab closed before ${n === 1 ? "it" : "they"} went out ${n === 1 ? "is" : "are"} sent from this one.`, "stranded");
    save();
  });
  for (const message of pending) app.restorePending(message);
  if (current !== undefined) app.showRoom(current);
  void s.start();
  persist = save;
  save();
  byId("composer-input").focus();
}

const saved = loadSession();

form.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const nickname = nicknameInput.value.trim();
  const room = roomInput.value.trim();
  const token = tokenInput.value.trim();
  // Signed in, the server names us after the token: an empty nickname means "whatever it says".
  alerts.clear("login"); // what was wrong with the last attempt is for that attempt
  if (nickname === "" && token === "") return showAlert("Pick a nickname first.");
  const problem = checkRoom(room);
  if (problem) return showAlert(problem);
  // Signing in again after a reload: the rooms and unsent messages of before come back too.
  const before = saved?.signedIn ? saved : undefined;
  const rooms = [room, ...(before?.rooms ?? []).filter((r) => r !== room)];
  enter({ nickname, token, rooms, current: room, pending: before?.pending ?? [], rejoin: before !== undefined });
});

if (saved?.signedIn) {
  // The token was not kept: sign in again to get the rooms and unsent messages back.
  nicknameInput.value = saved.nickname;
  roomInput.value = saved.current ?? saved.rooms[0] ?? "";
  tokenInput.closest("details")!.open = true;
  tokenInput.focus();
  const n = saved.pending.length;
  if (n > 0) showAlert(`Sign in again to send the ${n === 1 ? "message" : `${n} messages`} typed before the page was reloaded.`);
} else if (saved && saved.rooms.length > 0) {
  enter({ nickname: saved.nickname, token: "", rooms: saved.rooms, current: saved.current, pending: saved.pending, rejoin: true, tokens: saved.tokens });
}

// Leaving the page ends the session at once instead of when the server notices;
// what it had not sent yet is kept for a reload of this tab.
addEventListener("pagehide", () => {
  persist?.();
  leaving = true;
  void session?.abort();
});
// Back from the browser's page cache, the session closed at pagehide is gone: load afresh (and restore).
addEventListener("pageshow", (ev) => {
  if (ev.persisted) location.reload();
});
// A phone may discard a hidden tab without a pagehide: save when it is hidden too.
addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden") persist?.();
});
