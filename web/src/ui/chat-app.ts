/**
 * The chat screen: the rooms, the current room's log, members and typing
 * line, the composer, the connection status and plain-words errors. It
 * renders what the client core's session emits and turns the user's actions
 * into session calls; the read-only RPCs (history, member pages) go straight
 * to the API.
 *
 * One ChatApp per sign-in: everything it binds (session listeners, page
 * controls) comes off again in dispose(), which also empties the screen, so a
 * second sign-in (after a refused nickname) starts exactly like the first.
 */
import type { Client } from "@connectrpc/connect";
import { LeaveReason, RoomRole, RoomVisibility, type ChatService, type ServerEvent } from "../../../gen/chat/v1/chat_pb.js";
import { checkRoom, describeError, isMutedNow, mentionsIn, seenByLine, type ChatSession, type ChatSessionEvents } from "../../../src/client/index.js";
import type { SavedMessage } from "../saved-session.js";
import type { Alerts } from "./alerts.js";
import { Composer } from "./composer.js";
import { byId, el } from "./dom.js";
import { MemberMenu, menuItems } from "./member-menu.js";
import { MyRooms } from "./my-rooms.js";
import { RoomActions } from "./room-actions.js";
import { badgeElement, badgeOf, newestInSight } from "./read-marks.js";
import type { MessageAction } from "./message-item.js";
import { RoomView } from "./room-view.js";

const HISTORY_PAGE = 50;
const MEMBERS_PAGE = 100;
/** Direct-message rooms from "my rooms" joined by themselves at most (the most recent first): their news shows at once. */
const DIRECTS_AUTO_JOINED = 20;
const ROLE_NAMES: Partial<Record<RoomRole, string>> = { [RoomRole.OWNER]: "owner", [RoomRole.MODERATOR]: "moderator" };

export class ChatApp {
  private readonly views = new Map<string, RoomView>();
  private current: string | undefined;
  /** Why a room is being given up (its join was refused): the sign-in screen says it if it was the last. */
  private readonly refusals = new Map<string, string>();
  /** Page controls' listeners: aborted in dispose(). */
  private readonly controls = new AbortController();
  /** Session listeners' removers: called in dispose(). */
  private readonly unsubscribe: (() => void)[] = [];
  private readonly composer: Composer;
  private readonly ui = {
    status: byId("status"),
    rooms: byId<HTMLUListElement>("rooms"),
    logs: byId("logs"),
    title: byId("room-title"),
    members: byId<HTMLUListElement>("members"),
    memberCount: byId("member-count"),
    moreMembers: byId<HTMLButtonElement>("more-members"),
    older: byId<HTMLButtonElement>("older"),
    jump: byId<HTMLButtonElement>("jump-newest"),
    typing: byId("typing"),
    seen: byId("seen"),
    joinForm: byId<HTMLFormElement>("join-form"),
    joinRoom: byId<HTMLInputElement>("join-room"),
    leave: byId<HTMLButtonElement>("leave-room"),
    side: byId("side"),
    toggleSide: byId<HTMLButtonElement>("toggle-side"),
    topic: byId("room-topic"),
    editTopic: byId<HTMLButtonElement>("edit-topic"),
    readReceipts: byId<HTMLButtonElement>("read-receipts"),
    invite: byId<HTMLButtonElement>("invite"),
    unban: byId<HTMLButtonElement>("unban"),
    mutedNote: byId("composer-muted"),
    directs: byId<HTMLUListElement>("directs"),
    directsSection: byId("directs-section"),
  };
  private readonly menu: MemberMenu;
  private readonly actions: RoomActions;
  /** Signed in with a token: "my rooms" and direct messages. */
  private readonly myRooms: MyRooms | undefined;
  /** Direct-message rooms left on this page: not joined again by themselves. */
  private readonly leftDirects = new Set<string>();
  /** A reply or an edit under way in the message box (Reply, Edit on a message). */
  private composing: { kind: "reply" | "edit"; room: string; seq: bigint } | undefined;

  constructor(
    private readonly session: ChatSession,
    private readonly api: Client<typeof ChatService>,
    private readonly alerts: Alerts,
    /** Called when no room is left: with the reason when it was refused (e.g. the nickname was taken), none when left. */
    private readonly onEmpty: (reason: string | undefined) => void,
    /** Called when what a reload must keep changed: rooms, the room on screen, unacknowledged messages. */
    private readonly onChange: () => void = () => {},
    /** Signed in with a token (direct messages and "my rooms" need it). */
    private readonly signedIn = false,
  ) {
    this.actions = new RoomActions(
      session,
      {
        currentView: () => this.views.get(this.current ?? ""),
        hasView: (room) => this.views.has(room),
        join: (room) => this.join(room),
        ensureView: (room) => this.ensureView(room),
        show: (room) => this.show(room),
        drop: (room) => this.drop(room),
        alert: (text, key) => this.alert(text, key),
        clearAlert: (key) => this.alerts.clear("chat", key),
        settle: () => {
          this.setSide(false);
          this.composer.focus();
        },
        refreshMyRooms: () => void this.myRooms?.refresh(),
      },
      this.controls.signal,
    );
    this.menu = new MemberMenu(byId<HTMLUListElement>("member-menu"), this.controls.signal, (nickname, command) => void this.actions.memberCommand(nickname, command));
    if (signedIn) {
      this.myRooms = new MyRooms(
        session,
        this.controls.signal,
        () => {
          this.alerts.clear("chat", "my-rooms");
          this.onMyRooms();
        },
        // Offline, the status and the connection's own error say it already.
        (err) => this.ui.status.dataset.state === "online" && this.alert(`Could not list your rooms: ${describeError(err, location.origin)}`, "my-rooms"),
      );
    }
    this.ui.directsSection.hidden = !signedIn;
    this.composer = new Composer(this.controls.signal, (text) => this.sendTyped(text), () => {
      if (this.current && this.composing?.kind !== "edit") this.session.typing(this.current);
    });
    this.composer.onCancelContext = () => this.setComposing(undefined);
    this.composer.mentionNames = () => [...(this.views.get(this.current ?? "")?.members.keys() ?? [])].filter((n) => n !== this.session.nickname);
    this.wireSession();
    this.wireControls();
    this.setStatus("connecting", "Connecting…");
  }

  /** Unbind everything and empty the screen: the next sign-in gets a fresh one. */
  dispose(): void {
    this.controls.abort();
    for (const off of this.unsubscribe.splice(0)) off();
    this.refusals.clear();
    for (const view of this.views.values()) view.log.remove();
    this.views.clear();
    this.current = undefined;
    const { rooms, members, memberCount, title, typing, older, moreMembers, jump, topic, directs } = this.ui;
    this.menu.close(false);
    rooms.replaceChildren();
    directs.replaceChildren();
    members.replaceChildren();
    memberCount.textContent = typing.textContent = topic.textContent = "";
    topic.hidden = this.ui.editTopic.hidden = this.ui.readReceipts.hidden = this.ui.invite.hidden = this.ui.unban.hidden = this.ui.mutedNote.hidden = true;
    this.ui.directsSection.hidden = true;
    this.actions.reset();
    title.textContent = "#";
    older.hidden = moreMembers.hidden = jump.hidden = true;
    this.composer.setRoom(undefined);
    this.composer.reset();
    this.setSide(false);
    this.alerts.clear("chat");
    this.alerts.clear("connection");
    delete this.ui.status.dataset.state;
    this.ui.status.textContent = "Not connected";
  }

  /** The room on screen. */
  get currentRoom(): string | undefined {
    return this.current;
  }

  /** Join a room (and show it); `rejoin`: we were in it before the page was reloaded. */
  join(room: string, options: { rejoin?: boolean; resumeToken?: string } = {}): boolean {
    const problem = checkRoom(room);
    if (problem) {
      this.alert(problem, `join:${room}`);
      return false;
    }
    const result = this.session.join(room, options);
    if (!result.ok) {
      if (this.views.has(room)) this.show(room);
      this.alert(result.reason, `join:${room}`);
      return false;
    }
    this.leftDirects.delete(room);
    this.ensureView(room);
    this.show(room);
    return true;
  }

  /** The view of a room being joined or created. */
  private ensureView(room: string): RoomView {
    let view = this.views.get(room);
    if (view) return view;
    const created = new RoomView(room, () => this.session.nickname, this.titleOf(room));
    view = created;
    created.onNewBelow = () => {
      if (created.name === this.current) this.renderJump(created);
    };
    created.rightsOf = (item) => this.rightsOf(room, item);
    created.onMessageAction = (seq, action) => this.messageAction(created, seq, action);
    created.myId = () => this.session.userId;
    created.onSeen = () => this.markSeen(created);
    // What the chips show decides (a message paged in from older history is counted by the view, not the session).
    created.onReact = (seq, emoji) => {
      const done = created.reactedWith(seq, emoji) ? this.session.unreact(room, seq, emoji) : this.session.react(room, seq, emoji);
      if (!done.ok) this.alert(`Could not react: ${done.reason}`);
    };
    created.log.hidden = true;
    this.views.set(room, created);
    this.ui.logs.append(created.log);
    return created;
  }

  /** How a room is called on screen: "#name", or "@user" for a direct-message room (never its dm.… name). */
  private titleOf(room: string): string {
    const other = this.session.directUser(room) ?? this.myRooms?.get(room)?.directUserId;
    if (other) return `@${other}`;
    // Only direct-message rooms have "dm." names (the server refuses to make any other): who it is with comes with the join.
    return room.startsWith("dm.") ? "@…" : `#${room}`;
  }

  /** Show a room that is already joined (or being joined). */
  showRoom(room: string): void {
    if (this.views.has(room)) this.show(room);
  }

  /** Queue again a message typed before the page was reloaded, under its own id (stored at most once). */
  restorePending(message: SavedMessage): void {
    const result = this.session.send(message.room, message.text, { id: message.id, replyTo: message.replyTo === undefined ? undefined : BigInt(message.replyTo), mentions: message.mentions });
    if (!result.ok) return this.alert(`Your message to #${message.room} was not sent: ${result.reason}`);
    this.views.get(message.room)?.addPending(result.id, message.text, message.replyTo === undefined ? undefined : BigInt(message.replyTo));
  }

  private wireSession(): void {
    const s = this.session;
    const on = <K extends keyof ChatSessionEvents>(name: K, listener: (...args: ChatSessionEvents[K]) => void) => this.unsubscribe.push(s.on(name, listener));
    on("connected", ({ reconnect }) => {
      this.setStatus("online", reconnect ? "Connected again" : "Connected");
      this.alerts.clear("connection"); // "Disconnected: …" no longer applies
      void this.myRooms?.refresh();
    });
    on("reconnecting", ({ attempt, delayMs, reason }) =>
      this.setStatus("reconnecting", `Reconnecting (attempt ${attempt}: ${reason}; next try in ${Math.ceil(delayMs / 1000)} s). What you send goes out once connected.`),
    );
    on("closed", (end) => {
      if (!end.ok) {
        this.setStatus("offline", "Disconnected");
        this.alerts.show(`Disconnected: ${end.message}`, "connection", "disconnected");
      }
    });
    on("event", (event) => this.onEvent(event));
    on("roomLive", (room) => this.alerts.clear("chat", `join:${room}`));
    on("ack", (m) => {
      const view = this.views.get(m.room);
      view?.removePending(m.clientMsgId);
      // The copy may have come as the Command's answer first: show it now, the stream's copy is then a duplicate.
      view?.addMessage(m);
      if (view) this.markSeen(view);
      this.onChange();
    });
    on("sendFailed", ({ id, room, reason, change, reaction }) => {
      if (reaction) return this.alert(`Could not ${reaction.remove ? "remove your" : "add the"} ${reaction.emoji} reaction: ${reason}`);
      if (change) return this.alert(`Could not ${change.kind} the message: ${reason}`);
      this.views.get(room)?.removePending(id, reason);
      this.alert(`Your message to ${this.views.get(room)?.title ?? `#${room}`} was not sent: ${reason}`);
      this.onChange();
    });
    on("messageChanged", (c) => {
      this.views.get(c.room)?.applyChange(c);
      // The message being edited or replied to is gone: nothing left to do to it.
      if (c.kind === "delete" && this.composing?.room === c.room && this.composing.seq === c.seq) {
        this.setComposing(undefined);
        this.composer.setContext(undefined);
      }
    });
    on("reactionChanged", (c) => this.views.get(c.room)?.applyReaction(c));
    on("joinFailed", ({ room, message }) => {
      this.refused(room, `Could not join ${this.views.get(room)?.title ?? `#${room}`}: ${message}`);
      this.drop(room);
    });
    on("roomLeft", (room) => this.drop(room));
    on("roomState", ({ room, state }) => {
      const view = this.views.get(room);
      if (!view) return;
      if (state.directUserId) view.setLabel(`@${state.directUserId}`);
      if (room === this.current) this.renderRoom();
      else this.renderRooms();
    });
    // Someone opened a conversation with us (the server tells at once; a page offline then finds it in "my rooms"): joined, like one found there.
    on("directOpened", ({ room, asked }) => {
      if (asked || this.views.has(room) || this.leftDirects.has(room)) return;
      if (!this.session.join(room).ok) return;
      // What they said comes with the join, counted unread by the server.
      this.ensureView(room);
      this.renderRooms();
      this.onChange();
    });
    // Kicked, banned, or the room deleted: said at the top (it stays until dismissed), and the room goes (never rejoined).
    on("removed", ({ room, reason, action }) => {
      const title = this.views.get(room)?.title ?? `#${room}`;
      const what = reason === LeaveReason.BANNED ? `You were banned from ${title}` : reason === LeaveReason.KICKED ? `You were removed from ${title}` : reason === LeaveReason.ROOM_DELETED ? `${title} was deleted` : `You were removed from ${title}`;
      // A deletion's entry says only "the room was deleted" and the reason: the reason is what is new.
      if (reason === LeaveReason.ROOM_DELETED) this.refused(room, action?.action?.reason ? `${what}: ${action.action.reason}.` : `${what}.`);
      else this.refused(room, action ? `${what} (${action.text}).` : `${what}.`);
      this.myRooms?.forget(room);
    });
    // Joining refused the nickname: the page gives the room up (a rename is for rooms already joined).
    on("nicknameRefused", ({ room, message }) => {
      this.refused(room, `Could not join #${room}: ${message}`);
      s.leave(room);
    });
    on("commandError", (e) => this.alert(e.message));
    // Our own rename: the "(you)" marks follow, and a reload keeps the new name.
    on("nickname", () => {
      const view = this.views.get(this.current ?? "");
      if (view) this.renderMembers(view);
      this.onChange();
    });
    on("nicknameChangeRefused", ({ nickname, message }) => this.alert(`Could not change your nickname to ${nickname}: ${message}`));
    on("notice", (n) => this.views.get(this.current ?? "")?.notice(n.text));
    // The server's counts (or, without a sign-in, this session's): the badges follow.
    on("readPosition", (p) => p.room !== this.current && this.renderRooms());
    // A mention in a room not on screen: said in the room on screen; one not joined here gets its badge from "my rooms".
    on("mention", (m) => {
      if (m.room === this.current) return;
      const title = this.views.get(m.room)?.title ?? this.titleOfInfo(m.room);
      this.views.get(this.current ?? "")?.notice(`${m.sender} mentioned you in ${title}: ${m.quote}`);
      if (!this.views.has(m.room)) void this.myRooms?.refresh();
    });
    on("receipts", ({ room }) => {
      const view = this.views.get(room);
      if (view && room === this.current) this.renderSeen(view);
    });
    on("typing", ({ room, nicknames }) => {
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
        if (e.value.room === this.current) {
          // Where the reader had stopped, before the room on screen is marked read.
          view.showUnreadLine(e.value.unreadCount > 0 ? e.value.readSeq : undefined);
          this.renderRoom();
          this.markSeen(view);
        } else this.renderRooms();
        return;
      }
      case "message": {
        const view = this.views.get(e.value.room);
        if (!view?.addMessage(e.value)) return;
        if (e.value.action && e.value.room === this.current) this.renderMembers(view); // roles, who is muted
        if (e.value.room === this.current) {
          this.ui.older.hidden = !view.hasOlder;
          this.markSeen(view);
          this.renderSeen(view);
        }
        return;
      }
      case "memberJoined":
        this.views.get(e.value.room)?.memberJoined(e.value.member!);
        return this.refreshMembers(e.value.room);
      case "memberLeft":
        this.views.get(e.value.room)?.memberLeft(e.value.nickname, e.value.reason);
        return this.refreshMembers(e.value.room);
      case "memberRenamed":
        this.views.get(e.value.room)?.memberRenamed(e.value.oldNickname, e.value.newNickname);
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
    const signal = this.controls.signal;
    this.ui.joinForm.addEventListener(
      "submit",
      (ev) => {
        ev.preventDefault();
        const room = this.ui.joinRoom.value.trim();
        if (room === "") return;
        if (!this.join(room)) return; // the field keeps the name, to be corrected (the error says why)
        this.ui.joinRoom.value = "";
        this.setSide(false);
        this.composer.focus();
      },
      { signal },
    );
    this.ui.leave.addEventListener(
      "click",
      () => {
        if (!this.current) return;
        if (this.titleOf(this.current).startsWith("@")) this.leftDirects.add(this.current);
        const result = this.session.leave(this.current);
        if (!result.ok) this.alert(result.reason);
      },
      { signal },
    );
    // One listener for the room list's buttons, which are redrawn on every change.
    const pickRoom = (ev: Event) => {
      const room = (ev.target as Element).closest<HTMLElement>("button[data-room]")?.dataset.room;
      if (room === undefined) return;
      if (this.views.has(room)) this.show(room);
      else if (!this.join(room)) return; // one of "my rooms", not joined on this page yet
      this.setSide(false);
      this.composer.focus();
    };
    this.ui.rooms.addEventListener("click", pickRoom, { signal });
    this.ui.directs.addEventListener("click", pickRoom, { signal });
    // A member's button opens their menu (keyboard: Enter/Space click it; ArrowDown too).
    const openMenu = (button: HTMLButtonElement, focusFirst: boolean) => {
      const view = this.views.get(this.current ?? "");
      const member = view?.members.get(button.dataset.member!);
      if (!view || !member) return;
      this.menu.toggle(button, menuItems(member, this.menuContext(view, member.nickname, member.userId)), focusFirst);
    };
    this.ui.members.addEventListener(
      "click",
      (ev) => {
        const button = (ev.target as Element).closest<HTMLButtonElement>("button[data-member]");
        // A click from the keyboard (Enter, Space) has no pointer position: focus goes into the menu then.
        if (button) openMenu(button, (ev as MouseEvent).detail === 0);
      },
      { signal },
    );
    this.ui.members.addEventListener(
      "keydown",
      (ev) => {
        const button = (ev.target as Element).closest<HTMLButtonElement>("button[data-member]");
        if (!button || ev.key !== "ArrowDown") return;
        ev.preventDefault();
        if (!this.menu.isOpen) openMenu(button, true);
      },
      { signal },
    );
    // Back to a page that was hidden (another tab, a locked phone): what came meanwhile is below the line, and now read.
    document.addEventListener(
      "visibilitychange",
      () => {
        const view = this.views.get(this.current ?? "");
        if (!view || document.visibilityState !== "visible") return;
        const position = this.session.readPosition(view.name);
        if (position && position.unreadCount > 0) view.showUnreadLine(position.readSeq);
        this.markSeen(view);
      },
      { signal },
    );
    this.ui.older.addEventListener("click", () => void this.loadOlder(), { signal });
    this.ui.jump.addEventListener("click", () => this.views.get(this.current ?? "")?.scrollToEnd(), { signal });
    this.ui.moreMembers.addEventListener("click", () => void this.loadMembers(), { signal });
    this.ui.toggleSide.addEventListener("click", () => this.setSide(!this.ui.side.classList.contains("open")), { signal });
    // Escape closes the side panel (a phone's overlay), back to the button that opened it.
    document.addEventListener(
      "keydown",
      (ev) => {
        if (ev.key !== "Escape" || !this.ui.side.classList.contains("open") || this.menu.isOpen || ev.defaultPrevented) return;
        this.setSide(false);
        this.ui.toggleSide.focus();
      },
      { signal },
    );
  }

  /** Open or close the side panel (only a phone's layout folds it away). */
  private setSide(open: boolean): void {
    this.ui.side.classList.toggle("open", open);
    this.ui.toggleSide.setAttribute("aria-expanded", String(open));
  }

  /** Queue what was typed for the room on screen; false (and why, at the top) if refused. */
  private sendTyped(text: string): boolean {
    const room = this.current;
    if (!room) return false;
    const doing = this.composing?.room === room ? this.composing : undefined;
    if (doing?.kind === "edit") {
      const result = this.session.edit(room, doing.seq, text);
      if (!result.ok) {
        this.alert(`Could not edit the message: ${result.reason}`);
        return false;
      }
      this.setComposing(undefined);
      this.composer.setContext(undefined);
      return true;
    }
    // "@ann" names a member: she is told (a mention). A name nobody here has is just text.
    const view = this.views.get(room);
    const mentions = mentionsIn(text, (name) => view?.members.get(name)?.userId || this.session.userIdOf(room, name));
    const result = this.session.send(room, text, { replyTo: doing?.seq, mentions });
    if (!result.ok) {
      this.alert(result.reason);
      return false;
    }
    if (doing) {
      this.setComposing(undefined);
      this.composer.setContext(undefined);
    }
    this.views.get(room)?.addPending(result.id, text, doing?.seq);
    this.onChange();
    return true;
  }

  private show(room: string): void {
    if (this.composing && this.composing.room !== room) {
      // A reply or edit belongs to its room.
      this.setComposing(undefined);
      this.composer.setContext(undefined);
    }
    this.current = room;
    for (const view of this.views.values()) view.log.hidden = view.name !== room;
    const view = this.views.get(room)!;
    // Where the reader had stopped in this room, as the server keeps it (another tab or device may have moved it).
    const position = this.session.readPosition(room);
    view.showUnreadLine(position && position.unreadCount > 0 ? position.readSeq : undefined);
    this.renderRoom();
    view.scrollToEnd();
    this.markSeen(view);
    this.onChange();
  }

  /** The room on screen, its newest message in sight, the page visible: read up to there (the session coalesces). */
  private markSeen(view: RoomView): void {
    if (view.name !== this.current || !newestInSight(view.log)) return;
    const seq = view.lastSeq;
    if (seq !== undefined) this.session.markRead(view.name, seq);
  }

  /** A room not joined here, by its "my rooms" entry. */
  private titleOfInfo(room: string): string {
    const info = this.myRooms?.get(room);
    return info?.directUserId ? `@${info.directUserId}` : `#${room}`;
  }

  /** What we may do to a message now: reply to any; react to any and edit our own (unless muted); delete our own, or any as a moderator. */
  private rightsOf(room: string, item: { sender: string; senderId: string }): MessageAction[] {
    const state = this.session.roomState(room);
    const me = this.session.userId;
    const mine = me !== undefined && item.senderId !== "" ? item.senderId === me : item.sender === this.session.nickname;
    const actions: MessageAction[] = ["reply"];
    if (!isMutedNow(state)) actions.push("react");
    if (mine && !isMutedNow(state)) actions.push("edit");
    if (mine || (state?.yourRole ?? RoomRole.UNSPECIFIED) >= RoomRole.MODERATOR) actions.push("delete");
    return actions;
  }

  private setComposing(doing: ChatApp["composing"]): void {
    if (this.composing) this.views.get(this.composing.room)?.markComposing(undefined);
    this.composing = doing;
    if (doing) this.views.get(doing.room)?.markComposing(doing.seq);
  }

  /** Reply, React, Edit or Delete was picked on a message. */
  private messageAction(view: RoomView, seq: bigint, action: MessageAction): void {
    if (action === "react") return view.openPicker(seq);
    const item = view.log.querySelector<HTMLElement>(`li[data-seq="${seq}"]`);
    const sender = item?.dataset.sender ?? "";
    if (action === "delete") {
      const whose = sender === this.session.nickname ? "your" : `${sender}'s`;
      void this.actions.deleteMessage(view.name, seq, whose);
      return;
    }
    this.setComposing({ kind: action, room: view.name, seq });
    if (action === "edit") this.composer.setContext("Editing your message (Escape cancels)", { text: view.textOf(seq) ?? "" });
    else {
      const text = view.textOf(seq) ?? "";
      this.composer.setContext(`Replying to ${sender}: ${text.length > 60 ? `${text.slice(0, 60)}…` : text}`);
    }
  }

  /** A room's join was refused: say so, and remember why in case it was the last room. */
  private refused(room: string, reason: string): void {
    this.refusals.set(room, reason);
    this.alert(reason, `join:${room}`);
  }

  private drop(room: string): void {
    const view = this.views.get(room);
    const reason = this.refusals.get(room);
    this.refusals.delete(room);
    if (!view) return;
    view.log.remove();
    this.views.delete(room);
    this.onChange();
    if (this.current === room) {
      const next = this.views.keys().next().value;
      if (next === undefined) {
        this.current = undefined;
        return this.onEmpty(reason);
      }
      this.show(next);
    } else {
      this.renderRooms();
    }
  }

  private renderRoom(): void {
    const view = this.views.get(this.current ?? "");
    if (!view) return;
    const state = this.session.roomState(view.name);
    this.ui.title.replaceChildren(view.title);
    // A private room says so where its name is (a direct conversation is private by nature).
    if (state?.visibility === RoomVisibility.PRIVATE && !view.title.startsWith("@")) this.ui.title.append(el("span", { className: "role", text: "private" }));
    const topic = state?.topic ?? "";
    this.ui.topic.textContent = topic;
    this.ui.topic.hidden = topic === "";
    // Moderators and owners set the topic and the read receipts; in a direct conversation, either of the two.
    const role = state?.yourRole ?? RoomRole.UNSPECIFIED;
    this.ui.editTopic.hidden = this.ui.readReceipts.hidden = !(role >= RoomRole.MODERATOR || view.title.startsWith("@"));
    // Invitations are what let people into a private room (a public one lets anyone in).
    this.ui.invite.hidden = !(role >= RoomRole.MODERATOR && state?.visibility === RoomVisibility.PRIVATE && !view.title.startsWith("@"));
    // A banned user is no member (the members menu cannot have them): moderators lift a ban here.
    this.ui.unban.hidden = !(role >= RoomRole.MODERATOR && !view.title.startsWith("@"));
    const muted = isMutedNow(state);
    this.ui.mutedNote.hidden = !muted;
    this.ui.mutedNote.textContent = muted ? `You are muted in ${view.title}${state?.mutedUntil ? ` until ${state.mutedUntil.toLocaleString()}` : ""}: you can read, not post.` : "";
    this.composer.setRoom(view.title);
    this.ui.older.hidden = !view.hasOlder;
    this.renderJump(view);
    this.renderRooms();
    this.renderMembers(view);
    this.renderTyping(view);
    this.renderSeen(view);
  }

  private renderRooms(): void {
    const item = (view: RoomView) => {
      const button = el("button", { attrs: { type: "button", "data-room": view.name, "aria-current": String(view.name === this.current) } }, el("span", { text: view.title }));
      // The room on screen is being read: no badge for it.
      const badge = view.name === this.current ? undefined : badgeElement(badgeOf(this.session, view.name));
      if (badge) button.append(badge);
      return el("li", {}, button);
    };
    // "My rooms" not joined on this page: a press joins them.
    const notJoined = (this.myRooms?.all ?? []).filter((r) => !this.views.has(r.name));
    const offer = (name: string, title: string) =>
      el(
        "li",
        {},
        el(
          "button",
          { className: "not-joined", attrs: { type: "button", "data-room": name, "aria-current": "false" } },
          el("span", { text: title }),
          // What is unread there, as "my rooms" counts it; otherwise a hint that a press joins it.
          badgeElement(badgeOf(this.session, name, this.myRooms?.get(name))) ?? el("span", { className: "hint", text: "join" }),
        ),
      );
    const views = [...this.views.values()];
    this.ui.rooms.replaceChildren(
      ...views.filter((v) => !v.title.startsWith("@")).map(item),
      ...notJoined.filter((r) => !r.directUserId).map((r) => offer(r.name, `#${r.name}`)),
    );
    this.ui.directs.replaceChildren(
      ...views.filter((v) => v.title.startsWith("@")).map(item),
      ...notJoined.filter((r) => r.directUserId).map((r) => offer(r.name, `@${r.directUserId}`)),
    );
    // On a phone the room list is folded away behind this button: it carries the unread total, or
    // nothing would say that another room has news.
    const total = { unread: 0, mentions: 0 };
    for (const view of this.views.values()) {
      if (view.name === this.current) continue;
      const b = badgeOf(this.session, view.name);
      total.unread += b.unread;
      total.mentions += b.mentions;
    }
    const badge = badgeElement(total);
    this.ui.toggleSide.replaceChildren(el("span", { text: "Rooms and members" }), ...(badge ? [badge] : []));
  }

  private refreshMembers(room: string): void {
    const view = this.views.get(room);
    if (view && room === this.current) this.renderMembers(view);
  }

  private renderMembers(view: RoomView): void {
    const items = [...view.members.values()].map((m) => {
      const self = m.nickname === this.session.nickname;
      const role = ROLE_NAMES[m.role as RoomRole];
      const parts = [el("span", { text: self ? `${m.nickname} (you)` : m.nickname })];
      if (role) parts.push(el("span", { className: "role", text: role }));
      if (view.muted.has(m.userId)) parts.push(el("span", { className: "role", text: "muted" }));
      // A member we may do something to is a menu button; anyone else is plain text.
      if (menuItems(m, this.menuContext(view, m.nickname, m.userId)).length === 0) return el("li", { className: "plain" }, ...parts);
      const button = el("button", { className: "member", attrs: { type: "button", "data-member": m.nickname, "aria-haspopup": "menu", "aria-expanded": "false" } }, ...parts);
      return el("li", {}, button);
    });
    this.ui.members.replaceChildren(...items);
    this.menu.reattach();
    this.ui.memberCount.textContent = view.joined ? `${view.memberCount} ${view.memberCount === 1 ? "member" : "members"}` : "joining…";
    this.ui.moreMembers.hidden = view.membersPageToken === "";
  }

  private menuContext(view: RoomView, nickname: string, userId: string) {
    const state = this.session.roomState(view.name);
    return {
      mine: state?.yourRole ?? RoomRole.UNSPECIFIED,
      direct: view.title.startsWith("@"),
      signedIn: this.signedIn,
      self: nickname === this.session.nickname,
      muted: view.muted.has(userId),
    };
  }

  /** "My rooms" arrived: list them, and join the direct messages (not left here) so their news shows at once. */
  private onMyRooms(): void {
    const directs = (this.myRooms?.all ?? [])
      .filter((r) => r.directUserId && !this.views.has(r.name) && !this.leftDirects.has(r.name))
      .sort((a, b) => Number((b.lastMessage?.sentAt?.seconds ?? 0n) - (a.lastMessage?.sentAt?.seconds ?? 0n)))
      .slice(0, DIRECTS_AUTO_JOINED);
    // Their unread messages are counted by the server (the join says how many).
    for (const r of directs) if (this.session.join(r.name).ok) this.ensureView(r.name);
    this.renderRooms();
    if (directs.length > 0) this.onChange();
  }

  /** "3 new messages ↓" while the reader is scrolled up and messages came in below. */
  private renderJump(view: RoomView): void {
    const n = view.newBelow;
    this.ui.jump.hidden = n === 0;
    this.ui.jump.textContent = `${n} new ${n === 1 ? "message" : "messages"} ↓`;
  }

  /** "seen by alice and bob" under the last message, when the room has read receipts on and someone has read it. */
  private renderSeen(view: RoomView): void {
    const last = view.lastSeq;
    const line = last === undefined ? "" : seenByLine(this.session.seenBy(view.name, last));
    this.ui.seen.textContent = line;
    this.ui.seen.hidden = line === "";
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

  /** An error in plain words, announced (role="alert"), kept until dismissed or until it no longer applies. */
  alert(text: string, key?: string): void {
    this.alerts.show(text, "chat", key);
  }

  /** Something that went right but is worth saying (at the top too, kept until dismissed), styled as a note, not an error. */
  note(text: string, key?: string): void {
    this.alerts.show(text, "chat", key, "note");
  }
}
