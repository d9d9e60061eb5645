/**
 * The chat screen: the rooms, the current room's log, members and typing
 * line, the composer, the connection status and plain-words errors. It
 * renders what the client core's session emits and turns the user's actions
 * into session calls; the read-only RPCs (history, member pages) go straight
 * to the API.
 */
import type { Client } from "@connectrpc/connect";
import type { ChatService, ServerEvent } from "../../../gen/chat/v1/chat_pb.js";
import { checkRoom, describeError, type ChatSession } from "../../../src/client/index.js";
import type { SavedMessage } from "../saved-session.js";
import { byId, el } from "./dom.js";
import { RoomView } from "./room-view.js";

const ALERT_MS = 10_000;
const HISTORY_PAGE = 50;
const MEMBERS_PAGE = 100;

export class ChatApp {
  private readonly views = new Map<string, RoomView>();
  private current: string | undefined;
  private alertTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly ui = {
    status: byId("status"),
    alert: byId("alert"),
    rooms: byId<HTMLUListElement>("rooms"),
    logs: byId("logs"),
    title: byId("room-title"),
    members: byId<HTMLUListElement>("members"),
    memberCount: byId("member-count"),
    moreMembers: byId<HTMLButtonElement>("more-members"),
    older: byId<HTMLButtonElement>("older"),
    typing: byId("typing"),
    composer: byId<HTMLFormElement>("composer"),
    input: byId<HTMLTextAreaElement>("composer-input"),
    composerLabel: byId("composer-label"),
    joinForm: byId<HTMLFormElement>("join-form"),
    joinRoom: byId<HTMLInputElement>("join-room"),
    leave: byId<HTMLButtonElement>("leave-room"),
    side: byId("side"),
    toggleSide: byId<HTMLButtonElement>("toggle-side"),
  };

  constructor(
    private readonly session: ChatSession,
    private readonly api: Client<typeof ChatService>,
    /** Called when no room is left (e.g. the nickname was refused in the first one). */
    private readonly onEmpty: (reason: string) => void,
    /** Called when what a reload must keep changed: rooms, the room on screen, unacknowledged messages. */
    private readonly onChange: () => void = () => {},
  ) {
    this.wireSession();
    this.wireControls();
    this.setStatus("connecting", "Connecting…");
  }

  /** The room on screen. */
  get currentRoom(): string | undefined {
    return this.current;
  }

  /** Join a room (and show it); `rejoin`: we were in it before the page was reloaded. */
  join(room: string, options: { rejoin?: boolean; resumeToken?: string } = {}): void {
    const problem = checkRoom(room);
    if (problem) return this.alert(problem);
    const result = this.session.join(room, options);
    if (!result.ok) {
      if (this.views.has(room)) this.show(room);
      return this.alert(result.reason);
    }
    if (!this.views.has(room)) {
      const view = new RoomView(room, () => this.session.nickname);
      view.log.hidden = true;
      this.views.set(room, view);
      this.ui.logs.append(view.log);
    }
    this.show(room);
  }

  /** Show a room that is already joined (or being joined). */
  showRoom(room: string): void {
    if (this.views.has(room)) this.show(room);
  }

  /** Queue again a message typed before the page was reloaded, under its own id (stored at most once). */
  restorePending(message: SavedMessage): void {
    const result = this.session.send(message.room, message.text, { id: message.id });
    if (!result.ok) return this.alert(`Your message to #${message.room} was not sent: ${result.reason}`);
    this.views.get(message.room)?.addPending(result.id, message.text);
  }

  private wireSession(): void {
    const s = this.session;
    s.on("connected", ({ reconnect }) => this.setStatus("online", reconnect ? "Connected again" : "Connected"));
    s.on("reconnecting", ({ attempt, delayMs, reason }) =>
      this.setStatus("reconnecting", `Reconnecting (attempt ${attempt}: ${reason}; next try in ${Math.ceil(delayMs / 1000)} s). What you send goes out once connected.`),
    );
    s.on("closed", (end) => {
      if (!end.ok) {
        this.setStatus("offline", "Disconnected");
        this.alert(`Disconnected: ${end.message}`);
      }
    });
    s.on("event", (event) => this.onEvent(event));
    s.on("ack", (m) => {
      const view = this.views.get(m.room);
      view?.removePending(m.clientMsgId);
      // The copy may have come as the Command's answer first: show it now, the stream's copy is then a duplicate.
      view?.addMessage(m);
      this.onChange();
    });
    s.on("sendFailed", ({ id, room, reason }) => {
      this.views.get(room)?.removePending(id, reason);
      this.alert(`Your message to #${room} was not sent: ${reason}`);
      this.onChange();
    });
    s.on("joinFailed", ({ room, message }) => {
      this.alert(`Could not join #${room}: ${message}`);
      this.drop(room);
    });
    s.on("roomLeft", (room) => this.drop(room));
    // The room keeps waiting for another nickname; the page has no rename, so it gives the room up.
    s.on("nicknameRefused", ({ room, message }) => {
      this.alert(`Could not join #${room}: ${message}`);
      s.leave(room);
    });
    s.on("commandError", (e) => this.alert(e.message));
    s.on("notice", (n) => this.views.get(this.current ?? "")?.notice(n.text));
    s.on("typing", ({ room, nicknames }) => {
      const view = this.views.get(room);
      if (!view) return;
      view.typing = nicknames.filter((n) => n !== s.nickname);
      if (room === this.current) this.renderTyping(view);
    });
  }

  private onEvent(event: ServerEvent): void {
    const e = event.event;
    switch (e.case) {
      case "joined": {
        const view = this.views.get(e.value.room);
        if (!view) return;
        view.onJoined(e.value);
        if (e.value.room === this.current) this.renderRoom();
        return;
      }
      case "message": {
        const view = this.views.get(e.value.room);
        if (!view?.addMessage(e.value)) return;
        if (e.value.room === this.current) this.ui.older.hidden = !view.hasOlder;
        else {
          view.unread++;
          this.renderRooms();
        }
        return;
      }
      case "memberJoined":
        this.views.get(e.value.room)?.memberJoined(e.value.member!);
        return this.refreshMembers(e.value.room);
      case "memberLeft":
        this.views.get(e.value.room)?.memberLeft(e.value.nickname);
        return this.refreshMembers(e.value.room);
      case "presence":
        this.views.get(e.value.room)?.presence(e.value);
        return this.refreshMembers(e.value.room);
      case "shutdown":
        return this.views.get(this.current ?? "")?.notice("The server is restarting; reconnecting by itself.");
      default:
        return;
    }
  }

  private wireControls(): void {
    const { input, composer } = this.ui;
    composer.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.sendTyped();
    });
    input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        this.sendTyped();
      }
    });
    input.addEventListener("input", () => {
      if (this.current && input.value !== "") this.session.typing(this.current);
    });
    this.ui.joinForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const room = this.ui.joinRoom.value.trim();
      if (room === "") return;
      this.ui.joinRoom.value = "";
      this.join(room);
      this.ui.input.focus();
    });
    this.ui.leave.addEventListener("click", () => {
      if (!this.current) return;
      const result = this.session.leave(this.current);
      if (!result.ok) this.alert(result.reason);
    });
    this.ui.older.addEventListener("click", () => void this.loadOlder());
    this.ui.moreMembers.addEventListener("click", () => void this.loadMembers());
    this.ui.toggleSide.addEventListener("click", () => {
      const open = this.ui.side.classList.toggle("open");
      this.ui.toggleSide.setAttribute("aria-expanded", String(open));
    });
  }

  private sendTyped(): void {
    const room = this.current;
    const text = this.ui.input.value;
    if (!room || text.trim() === "") return;
    const result = this.session.send(room, text);
    if (!result.ok) return this.alert(result.reason);
    this.views.get(room)?.addPending(result.id, text);
    this.ui.input.value = "";
    this.onChange();
  }

  private show(room: string): void {
    this.current = room;
    for (const view of this.views.values()) view.log.hidden = view.name !== room;
    const view = this.views.get(room)!;
    view.unread = 0;
    this.renderRoom();
    view.scrollToEnd();
    this.onChange();
  }

  private drop(room: string): void {
    const view = this.views.get(room);
    if (!view) return;
    view.log.remove();
    this.views.delete(room);
    this.onChange();
    if (this.current === room) {
      const next = this.views.keys().next().value;
      if (next === undefined) {
        this.current = undefined;
        return this.onEmpty(this.ui.alert.textContent ?? "");
      }
      this.show(next);
    } else {
      this.renderRooms();
    }
  }

  private renderRoom(): void {
    const view = this.views.get(this.current ?? "");
    if (!view) return;
    this.ui.title.textContent = `#${view.name}`;
    this.ui.composerLabel.textContent = `Message #${view.name}`;
    this.ui.older.hidden = !view.hasOlder;
    this.renderRooms();
    this.renderMembers(view);
    this.renderTyping(view);
  }

  private renderRooms(): void {
    const items = [...this.views.values()].map((view) => {
      const button = el("button", { attrs: { type: "button", "aria-current": String(view.name === this.current) } }, el("span", { text: `#${view.name}` }));
      if (view.unread > 0) button.append(el("span", { className: "unread", text: String(view.unread), attrs: { "aria-label": `${view.unread} unread` } }));
      button.addEventListener("click", () => {
        this.show(view.name);
        this.ui.input.focus();
      });
      return el("li", {}, button);
    });
    this.ui.rooms.replaceChildren(...items);
  }

  private refreshMembers(room: string): void {
    const view = this.views.get(room);
    if (view && room === this.current) this.renderMembers(view);
  }

  private renderMembers(view: RoomView): void {
    const names = [...view.members.keys()];
    this.ui.members.replaceChildren(...names.map((n) => el("li", { text: n === this.session.nickname ? `${n} (you)` : n })));
    this.ui.memberCount.textContent = view.joined ? `${view.memberCount} ${view.memberCount === 1 ? "member" : "members"}` : "joining…";
    this.ui.moreMembers.hidden = view.membersPageToken === "";
  }

  private renderTyping(view: RoomView): void {
    const t = view.typing;
    this.ui.typing.textContent =
      t.length === 0 ? "" : t.length === 1 ? `${t[0]} is typing…` : t.length <= 3 ? `${t.join(", ")} are typing…` : `${t.length} people are typing…`;
  }

  private async loadOlder(): Promise<void> {
    const view = this.views.get(this.current ?? "");
    if (!view || view.oldestSeq === undefined) return;
    this.ui.older.disabled = true;
    try {
      const page = await this.api.getHistory({ room: view.name, beforeSeq: view.oldestSeq, limit: HISTORY_PAGE });
      view.prependHistory(page.messages, page.hasMore);
      if (view.name === this.current) this.ui.older.hidden = !view.hasOlder;
    } catch (err) {
      this.alert(`Could not load older messages: ${describeError(err, location.origin)}`);
    } finally {
      this.ui.older.disabled = false;
    }
  }

  private async loadMembers(): Promise<void> {
    const view = this.views.get(this.current ?? "");
    if (!view || view.membersPageToken === "") return;
    try {
      const page = await this.api.listMembers({ room: view.name, pageToken: view.membersPageToken, pageSize: MEMBERS_PAGE });
      view.addMembersPage(page.members, page.nextPageToken, page.memberCount);
      this.refreshMembers(view.name);
    } catch (err) {
      this.alert(`Could not list more members: ${describeError(err, location.origin)}`);
    }
  }

  private setStatus(state: "connecting" | "online" | "reconnecting" | "offline", text: string): void {
    this.ui.status.dataset.state = state;
    this.ui.status.textContent = text;
  }

  /** An error in plain words, announced (role="alert") and cleared after a while. */
  alert(text: string): void {
    this.ui.alert.textContent = text;
    this.ui.alert.hidden = false;
    clearTimeout(this.alertTimer);
    this.alertTimer = setTimeout(() => (this.ui.alert.hidden = true), ALERT_MS);
  }
}
