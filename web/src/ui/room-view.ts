/**
 * What the page shows of one room: its message log (in sequence order, with
 * our unacknowledged messages after it), its members and who is typing. The
 * session has already dropped duplicates; this keeps messages keyed by
 * sequence number anyway, so history pages and live messages can meet in any
 * order without showing one twice.
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { LeaveReason, RoomActionKind, RoomRole, type ChatMessage, type JoinedEvent, type Member, type PresenceEvent, type ReactionCount } from "../../../gen/chat/v1/chat_pb.js";
import { applyReaction, isChange, isReaction, quoteOf, type MessageChanged, type ReactionChanged } from "../../../src/client/index.js";
import { atBottom, el, timeElement } from "./dom.js";
import { layoutLog } from "./log-layout.js";
import { actionBar, applyChange, applyChangeToQuote, reactionPicker, replyQuote, showReactions, shownText, textParagraph, type MessageAction } from "./message-item.js";

/** Messages kept in a room's log at most: older ones leave the page and can be paged back (GetHistory). */
const MAX_SHOWN = 1000;

export class RoomView {
  readonly log: HTMLOListElement;
  /** Shown messages by sequence number; the log's children are in the same order, pending ones last. */
  private readonly bySeq = new Map<bigint, HTMLLIElement>();
  /** Shown sequence numbers, ascending. */
  private readonly order: bigint[] = [];
  private readonly pendingItems = new Map<string, HTMLLIElement>();
  /** Shown messages' reactions (by sequence number), as shown: a message older than the session keeps is counted here. */
  private readonly reactions = new Map<bigint, ReactionCount[]>();
  private epoch = "";
  /** Oldest message shown, and whether older ones are stored (GetHistory pages back from it). */
  oldestSeq: bigint | undefined;
  hasOlder = false;
  readonly members = new Map<string, Member>();
  memberCount = 0;
  /** Where ListMembers continues; empty when `members` is the whole list. */
  membersPageToken = "";
  typing: string[] = [];
  joined = false;
  /** New messages that arrived below while the reader was scrolled up (the page offers a jump to them). */
  newBelow = 0;
  /** Called when `newBelow` changes. */
  onNewBelow: () => void = () => {};
  /** User ids we saw muted (by an action entry since we joined): the members menu offers to unmute them. */
  readonly muted = new Set<string>();
  /** Per user, the entry that last muted or unmuted them (history pages come in any order). */
  private readonly muteSeq = new Map<string, bigint>();
  /**
   * User ids we saw banned and not unbanned since (by action entries of the
   * loaded history and since we joined), newest last: the Unban dialog
   * offers them (a banned user is not a member, so no menu has them).
   */
  readonly banned = new Set<string>();
  /** Per user, the entry that last banned or unbanned them. */
  private readonly banSeq = new Map<string, bigint>();
  /** The members' roles are as of this entry (the join's last_seq): older role entries are already in them. */
  private rolesSeq = 0n;
  /** Whether the reader is at the newest line (as of the last scroll): a resize keeps them there. */
  private pinned = true;
  /** "No messages yet": first in the log, shown while the joined room has no message. */
  private readonly empty: HTMLLIElement;
  /** What we may do to a message now (our role may change): the actions its toolbar offers. */
  rightsOf: (item: { sender: string; senderId: string }) => MessageAction[] = () => [];
  /** The user picked an action on a shown message. */
  onMessageAction: (seq: bigint, action: MessageAction) => void = () => {};
  /** Our user id: a message that mentions it stands out. */
  myId: () => string | undefined = () => undefined;
  /** The reader scrolled to the newest message (what is above it has been seen). */
  onSeen: () => void = () => {};
  /** "New messages": where the reader had stopped, while the room is on screen. */
  private unreadLine: HTMLLIElement | undefined;
  /** The user clicked a reaction chip or picked an emoji: add ours, or take it off. */
  onReact: (seq: bigint, emoji: string) => void = () => {};

  constructor(
    readonly name: string,
    private readonly me: () => string,
    /** How the room is called on screen: "#name", or "@user" for a direct-message room. */
    private label = `#${name}`,
  ) {
    // A list (its items are list items to assistive technology, as axe-core checks) that is also a polite
    // live region: what is added is read out, as role="log" would, without taking the list semantics away.
    this.log = el("ol", { className: "messages", attrs: { "aria-live": "polite", "aria-relevant": "additions", "aria-label": `Messages in ${label}`, tabindex: "0", "data-room": name } });
    this.empty = el("li", { className: "empty", attrs: { hidden: "" } }, el("p", { text: "No messages yet — say hello" }), el("p", { className: "muted", text: "" }));
    this.setLabel(label);
    this.log.append(this.empty);
    // Back at the bottom by scrolling: the new messages have been seen.
    this.log.addEventListener("scroll", () => {
      if (this.log.clientHeight > 0) this.pinned = atBottom(this.log);
      if (this.newBelow > 0 && atBottom(this.log)) this.setNewBelow(0);
      if (atBottom(this.log)) this.onSeen();
    });
    // The log gets shorter without scrolling when the byte count or an error line appears under the
    // message box, or the phone's panel or keyboard opens: the newest line would slip out of sight.
    new ResizeObserver(() => {
      if (this.pinned && this.log.clientHeight > 0) this.log.scrollTop = this.log.scrollHeight;
    }).observe(this.log);
    this.wireMessageActions();
  }

  /**
   * Actions on a message: its toolbar (Reply, React, Edit, Delete, as our
   * rights are now) is made when the pointer comes over it or it takes the
   * focus, and shows while it is hovered or focused. From the keyboard: ↑ and ↓
   * in the log move between messages; R replies, + reacts, E edits, Delete
   * deletes; Tab reaches the focused message's buttons (and its reaction
   * chips); Escape goes back to the log. A chip's click toggles our reaction.
   */
  private wireMessageActions(): void {
    const itemOf = (target: EventTarget | null) => (target instanceof Element ? target.closest<HTMLLIElement>("li.msg[data-seq]") : null);
    const refresh = (item: HTMLLIElement | null) => {
      if (!item || item.classList.contains("deleted")) return;
      const bar = actionBar(this.rightsOf({ sender: item.dataset.sender ?? "", senderId: item.dataset.senderId ?? "" }));
      const old = item.querySelector(":scope > .msg-actions");
      if (old && bar && old.textContent === bar.textContent) return;
      old?.remove();
      if (bar) item.append(bar);
    };
    this.log.addEventListener("pointerover", (ev) => refresh(itemOf(ev.target)));
    this.log.addEventListener("focusin", (ev) => {
      if (ev.target instanceof HTMLLIElement) refresh(itemOf(ev.target));
    });
    this.log.addEventListener("click", (ev) => {
      const target = ev.target instanceof Element ? ev.target : null;
      const reaction = target?.closest<HTMLButtonElement>("button[data-emoji], button[data-pick]");
      const reactedTo = itemOf(reaction ?? null);
      if (reaction && reactedTo) {
        if (reaction.dataset.pick) this.closePicker(true);
        this.onReact(BigInt(reactedTo.dataset.seq!), reaction.dataset.emoji ?? reaction.dataset.pick!);
        return;
      }
      const button = target?.closest<HTMLButtonElement>("button[data-msg-action]") ?? null;
      const item = itemOf(button);
      if (button && item) this.onMessageAction(BigInt(item.dataset.seq!), button.dataset.msgAction as MessageAction);
    });
    this.log.addEventListener("keydown", (ev) => {
      if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
      const items = [...this.log.querySelectorAll<HTMLLIElement>(":scope > li.msg[data-seq]")];
      const item = itemOf(ev.target);
      if (ev.key === "ArrowUp" || ev.key === "ArrowDown") {
        const at = item ? items.indexOf(item) : items.length;
        const next = items[Math.max(0, Math.min(items.length - 1, at + (ev.key === "ArrowUp" ? -1 : 1)))];
        if (!next) return;
        ev.preventDefault();
        next.focus();
        return;
      }
      if (!item || ev.target !== item) return;
      const action: MessageAction | undefined =
        ev.key === "r" || ev.key === "R" ? "reply" : ev.key === "+" ? "react" : ev.key === "e" || ev.key === "E" ? "edit" : ev.key === "Delete" || ev.key === "Backspace" ? "delete" : undefined;
      if (ev.key === "Escape") {
        ev.preventDefault();
        this.log.focus();
        return;
      }
      if (!action) return;
      refresh(item);
      if (!item.querySelector(`button[data-msg-action="${action}"]`)) return;
      ev.preventDefault();
      this.onMessageAction(BigInt(item.dataset.seq!), action);
    });
  }

  /**
   * React on a message: a row of common emoji under its actions, the first one
   * focused. ← and → move along it, Escape (or leaving it) closes it, a pick
   * reacts (or takes ours off) and closes it.
   */
  openPicker(seq: bigint): void {
    this.closePicker(false);
    const item = this.bySeq.get(seq);
    if (!item || item.classList.contains("deleted")) return;
    const mine = new Set((this.reactions.get(seq) ?? []).filter((c) => c.mine).map((c) => c.emoji));
    const picker = reactionPicker(mine);
    picker.addEventListener("keydown", (ev) => {
      const buttons = [...picker.querySelectorAll<HTMLButtonElement>("button")];
      const at = buttons.indexOf(ev.target as HTMLButtonElement);
      if (ev.key === "Escape") this.closePicker(true);
      else if (ev.key === "ArrowRight" || ev.key === "ArrowLeft") buttons[(at + (ev.key === "ArrowRight" ? 1 : buttons.length - 1)) % buttons.length]?.focus();
      else return; // Enter, Space, Tab: the buttons' own
      ev.preventDefault();
      ev.stopPropagation();
    });
    picker.addEventListener("focusout", (ev) => {
      if (!(ev.relatedTarget instanceof Node && picker.contains(ev.relatedTarget))) this.closePicker(false);
    });
    item.append(picker);
    // Under the actions, unless that is past the bottom of the log (the last message): then above them.
    if (picker.getBoundingClientRect().bottom > this.log.getBoundingClientRect().bottom) picker.classList.add("above");
    picker.querySelector("button")?.focus();
  }

  /** Close the open picker; `refocus`: give the keyboard back to its message. */
  private closePicker(refocus: boolean): void {
    const picker = this.log.querySelector<HTMLElement>(".reaction-picker:not([data-closing])");
    if (!picker) return;
    // Moving the focus out (or removing the focused button) fires focusout, which closes pickers: not this one again.
    picker.dataset.closing = "";
    const item = picker.closest<HTMLElement>("li.msg");
    if (refocus) item?.focus();
    picker.remove();
  }

  /** A message's reactions changed (reactionChanged): its chips follow, in place. */
  applyReaction(c: ReactionChanged): void {
    const item = this.bySeq.get(c.seq);
    if (!item) return;
    // The session counts the messages it keeps; one shown from an older history page is counted here.
    const counts = c.message
      ? c.message.reactions
      : c.change
        ? (applyReaction(this.reactions.get(c.seq) ?? [], c.change.emoji, c.change.removed, c.change.byId || c.change.by, c.change.mine) ?? this.reactions.get(c.seq) ?? [])
        : c.reactions;
    this.reactions.set(c.seq, counts);
    showReactions(item, counts, this.nameOf);
    const picker = item.querySelector(":scope > .reaction-picker");
    if (picker) for (const b of picker.querySelectorAll<HTMLButtonElement>("button[data-pick]")) {
      const mine = counts.some((x) => x.emoji === b.dataset.pick && x.mine);
      b.classList.toggle("mine", mine);
      b.setAttribute("aria-pressed", String(mine));
      b.setAttribute("aria-label", mine ? `Remove your ${b.dataset.pick} reaction` : `React with ${b.dataset.pick}`);
    }
  }

  /** A user's nickname in the room, when the members we know include them (else their user id). */
  private readonly nameOf = (userId: string): string => {
    for (const m of this.members.values()) if (m.userId === userId) return m.nickname;
    return userId;
  };

  /** Whether we reacted to a shown message with this emoji. */
  reactedWith(seq: bigint, emoji: string): boolean {
    return this.reactions.get(seq)?.some((c) => c.emoji === emoji && c.mine) ?? false;
  }

  /** Mark the message being replied to or edited in the message box (none: nothing). */
  markComposing(seq: bigint | undefined): void {
    for (const item of this.log.querySelectorAll(":scope > li.composing")) item.classList.remove("composing");
    if (seq !== undefined) this.bySeq.get(seq)?.classList.add("composing");
  }

  /** The text of a shown message, for Edit to start from. */
  textOf(seq: bigint): string | undefined {
    const item = this.bySeq.get(seq);
    return item && !item.classList.contains("deleted") ? shownText(item) : undefined;
  }

  /** An edit or delete arrived: the message (if shown) and the replies quoting it follow, in place. */
  applyChange(c: MessageChanged): void {
    const item = this.bySeq.get(c.seq);
    if (item) applyChange(item, c.kind, c.entry);
    if (c.kind === "delete") this.reactions.delete(c.seq);
    const quoted = quoteOf(c.entry.text);
    for (const quote of this.log.querySelectorAll<HTMLElement>(`.reply-quote[data-reply-to="${c.seq}"]`)) applyChangeToQuote(quote, c.kind, quoted);
  }

  /** The room's name on screen (a direct-message room is known as one once its state arrives). */
  get title(): string {
    return this.label;
  }

  setLabel(label: string): void {
    this.label = label;
    this.log.setAttribute("aria-label", `Messages in ${label}`);
    const direct = label.startsWith("@");
    this.empty.lastElementChild!.textContent = direct ? `Only you and ${label.slice(1)} see what you write here.` : `Everyone in ${label} will see what you write here.`;
  }

  onJoined(j: JoinedEvent): void {
    this.joined = true;
    if (j.epoch !== this.epoch && this.epoch !== "") this.clear(); // another history: our sequence numbers mean nothing in it
    this.epoch = j.epoch;
    this.memberCount = j.memberCount;
    this.membersPageToken = j.membersPageToken;
    this.members.clear();
    for (const m of j.members) this.members.set(m.nickname, m);
    this.rolesSeq = j.lastSeq;
    for (const m of j.recent) this.addMessage(m);
    if (this.oldestSeq === undefined) this.oldestSeq = j.lastSeq + 1n;
    this.hasOlder = j.firstSeq > 0n && this.oldestSeq > j.firstSeq;
    this.layout();
    this.scrollToEnd();
  }

  /** Insert a message in sequence order; false if it is already shown. */
  addMessage(m: ChatMessage): boolean {
    // An edit, delete or reaction is applied to its message (applyChange, applyReaction), never shown as one of its own.
    if (this.bySeq.has(m.seq) || isChange(m) || isReaction(m)) return false;
    const item = this.messageItem(m);
    const follow = atBottom(this.log);
    // Live messages are the newest (no step back); history pages step back over what is shown.
    let i = this.order.length;
    while (i > 0 && this.order[i - 1] > m.seq) i--;
    let before: Element | null = i < this.order.length ? this.bySeq.get(this.order[i])! : (this.pendingItems.values().next().value ?? null);
    // Before the day line that opens the next message's day, not between the two.
    while (before?.previousElementSibling?.classList.contains("day")) before = before.previousElementSibling;
    this.log.insertBefore(item, before);
    this.order.splice(i, 0, m.seq);
    this.bySeq.set(m.seq, item);
    if (this.oldestSeq === undefined || m.seq < this.oldestSeq) this.oldestSeq = m.seq;
    if (i === this.order.length - 1 && this.order.length > MAX_SHOWN) this.dropOldest();
    this.layout();
    if (follow) this.scrollToEnd();
    else if (i === this.order.length - 1 && this.joined) this.setNewBelow(this.newBelow + 1); // not yanked down: offered
    return true;
  }

  /** The newest entry shown (a message or a room action): what the room is read up to once seen. */
  get lastSeq(): bigint | undefined {
    return this.order.at(-1);
  }

  /**
   * Draw the "New messages" line before the first message from someone else
   * after `readSeq` (none shown: no line); undefined takes the line away.
   */
  showUnreadLine(readSeq: bigint | undefined): void {
    this.unreadLine?.remove();
    this.unreadLine = undefined;
    const first = readSeq === undefined ? undefined : this.order.map((seq) => this.bySeq.get(seq)!).find((item) => item.classList.contains("msg") && !item.classList.contains("mine") && BigInt(item.dataset.seq!) > readSeq);
    if (first) {
      // Timed like the message under it: the day lines and message groups go around it (log-layout.ts).
      this.unreadLine = el("li", { className: "unread-line", attrs: { "data-time": first.dataset.time! } }, el("span", { text: "New messages" }));
      let before: Element = first;
      while (before.previousElementSibling?.classList.contains("day")) before = before.previousElementSibling;
      this.log.insertBefore(this.unreadLine, before);
    }
    this.layout();
  }

  /** Older messages from GetHistory, above what is shown; keeps the reader's place. */
  prependHistory(messages: ChatMessage[], hasMore: boolean): void {
    const fromBottom = this.log.scrollHeight - this.log.scrollTop;
    for (const m of messages) this.addMessage(m);
    this.hasOlder = hasMore;
    this.log.scrollTop = this.log.scrollHeight - fromBottom;
  }

  /** Our message on its way; `replyTo`: the message it answers, quoted as shown now. */
  addPending(id: string, text: string, replyTo?: bigint): void {
    const item = el(
      "li",
      { className: "msg pending mine", attrs: { "data-pending": id, "data-sender": this.me(), "data-time": String(Date.now()) } },
      ...messageParts(this.me(), true, el("span", { className: "state", text: "sending…" }), el("p", { className: "text", text })),
    );
    const target = replyTo === undefined ? undefined : this.bySeq.get(replyTo);
    if (replyTo !== undefined && target) {
      const quote = replyQuote({ seq: replyTo, sender: target.dataset.sender ?? "", quote: quoteOf(this.textOf(replyTo) ?? ""), deleted: target.classList.contains("deleted") });
      item.querySelector(".body > .meta")!.after(quote);
    }
    this.pendingItems.set(id, item);
    this.log.append(item);
    this.layout();
    this.scrollToEnd(); // what we just sent: shown, wherever the reader was
  }

  /** Our message was stored (its copy is in the log now) or given up on. */
  removePending(id: string, failure?: string): void {
    const item = this.pendingItems.get(id);
    if (!item) return;
    this.pendingItems.delete(id);
    if (failure === undefined) {
      item.remove();
      return this.layout();
    }
    item.classList.remove("pending");
    item.classList.add("failed");
    item.querySelector(".meta .state")!.textContent = `not sent: ${failure}`;
  }

  notice(text: string): void {
    this.addLine("notice", text);
  }

  memberJoined(m: Member): void {
    this.memberCount++;
    if (this.membersPageToken === "") this.members.set(m.nickname, m);
    this.addLine("presence", `${m.nickname} joined`);
  }

  memberLeft(nickname: string, reason: LeaveReason): void {
    if (this.members.delete(nickname) || this.memberCount > 0) this.memberCount = Math.max(0, this.memberCount - 1);
    // A kick, a ban or a deleted room is said by the room's own entry for it (who did it, and why).
    if (reason === LeaveReason.KICKED || reason === LeaveReason.BANNED || reason === LeaveReason.ROOM_DELETED) return;
    this.addLine("presence", `${nickname} ${reason === LeaveReason.LEFT ? "left" : "disconnected"}`);
  }

  /**
   * Someone changed nickname: the new name takes their place in the list. A
   * Map keeps insertion order, so delete-then-set would move them to the end
   * (the list would reshuffle on every rename); the entries are rebuilt instead.
   */
  memberRenamed(from: string, to: string): void {
    const m = this.members.get(from);
    if (m) {
      const entries = [...this.members].map(([name, member]): [string, Member] => (name === from ? [to, { ...member, nickname: to }] : [name, member]));
      this.members.clear();
      for (const [name, member] of entries) this.members.set(name, member);
    }
    if (from !== to) this.addLine("presence", `${from} is now ${to}`);
  }

  /** A large room's coalesced presence: the count is exact, the names as far as we list them. */
  presence(p: PresenceEvent): void {
    this.memberCount = p.memberCount;
    for (const nickname of p.left) this.members.delete(nickname);
    if (this.membersPageToken === "") for (const m of p.joined) this.members.set(m.nickname, m);
    const parts = [
      digestPart(p.joined.map((m) => m.nickname), p.joinedCount, "joined"),
      digestPart(p.left, p.leftCount, "left"),
    ].filter((s) => s !== "");
    if (parts.length > 0) this.addLine("presence", `${parts.join("; ")} (${p.memberCount} ${p.memberCount === 1 ? "member" : "members"} now)`);
  }

  /** Whether the room shows no message at all (its empty state is up). */
  get isEmpty(): boolean {
    return !this.empty.hidden;
  }

  addMembersPage(members: Member[], nextPageToken: string, memberCount: number): void {
    for (const m of members) this.members.set(m.nickname, m);
    this.membersPageToken = nextPageToken;
    this.memberCount = memberCount;
  }

  scrollToEnd(): void {
    this.log.scrollTop = this.log.scrollHeight;
    if (this.newBelow > 0) this.setNewBelow(0);
  }

  private setNewBelow(n: number): void {
    this.newBelow = n;
    this.onNewBelow();
  }

  /** A quiet line in the flow (a join, a leave, a notice): after the messages, before our pending ones. */
  private addLine(kind: "notice" | "presence", text: string): void {
    const follow = atBottom(this.log);
    const item = el("li", { className: kind, attrs: { "data-time": String(Date.now()) } }, el("span", { text }), timeElement(new Date()));
    this.log.insertBefore(item, this.pendingItems.values().next().value ?? null);
    this.layout();
    if (follow) this.scrollToEnd();
  }

  /** Day lines, message groups and the empty state, after any change to the log. */
  private layout(): void {
    layoutLog(this.log);
    // A room whose only entries are changes of its state (created, a topic) still has no message.
    this.empty.hidden = !this.joined || this.log.querySelector(":scope > li.msg") !== null || this.hasOlder;
  }

  /** A long-open page in a busy room stays bounded: the oldest message leaves the log (and can be loaded again). */
  private dropOldest(): void {
    const seq = this.order.shift()!;
    this.bySeq.get(seq)?.remove();
    this.bySeq.delete(seq);
    this.reactions.delete(seq);
    this.oldestSeq = this.order[0];
    this.hasOlder = true;
    this.layout();
  }

  private clear(): void {
    this.bySeq.clear();
    this.reactions.clear();
    this.order.length = 0;
    for (const item of [...this.log.children]) if (!item.hasAttribute("data-pending") && item !== this.empty) item.remove();
    this.oldestSeq = undefined;
  }

  /** What an action entry changes in the members list: roles (entries newer than the join's list), who is muted (the latest entry about each user). */
  private applyAction(m: ChatMessage): void {
    const a = m.action!;
    if (a.kind === RoomActionKind.MUTE || a.kind === RoomActionKind.UNMUTE || a.kind === RoomActionKind.KICK || a.kind === RoomActionKind.BAN) {
      if ((this.muteSeq.get(a.targetUser) ?? -1n) > m.seq) return;
      this.muteSeq.set(a.targetUser, m.seq);
    }
    this.applyBan(m);
    const member = m.seq > this.rolesSeq ? [...this.members.values()].find((x) => x.userId === a.targetUser) : undefined;
    switch (a.kind) {
      case RoomActionKind.SET_ROLE:
        if (member) member.role = a.role;
        break;
      case RoomActionKind.INVITE:
        if (member && member.role < (a.role || RoomRole.MEMBER)) member.role = a.role || RoomRole.MEMBER;
        break;
      case RoomActionKind.KICK:
      case RoomActionKind.BAN:
        if (member) member.role = RoomRole.UNSPECIFIED;
        this.muted.delete(a.targetUser);
        break;
      case RoomActionKind.MUTE:
        this.muted.add(a.targetUser);
        break;
      case RoomActionKind.UNMUTE:
        this.muted.delete(a.targetUser);
        break;
    }
  }

  /** Who is banned, as the latest ban or unban entry about each user says. */
  private applyBan(m: ChatMessage): void {
    const a = m.action!;
    if (a.kind !== RoomActionKind.BAN && a.kind !== RoomActionKind.UNBAN) return;
    if ((this.banSeq.get(a.targetUser) ?? -1n) > m.seq) return;
    this.banSeq.set(a.targetUser, m.seq);
    this.banned.delete(a.targetUser);
    if (a.kind === RoomActionKind.BAN) this.banned.add(a.targetUser);
  }

  private messageItem(m: ChatMessage): HTMLLIElement {
    const sent = m.sentAt ? timestampDate(m.sentAt) : new Date();
    if (m.action) {
      this.applyAction(m);
      // A change of the room (a ban, a topic…): a quiet line like a join, in its numbered place; not a message.
      return el("li", { className: "action", attrs: { "data-action-seq": String(m.seq), "data-time": String(sent.getTime()) } }, el("span", { text: m.text }), timeElement(sent));
    }
    const mine = m.sender === this.me();
    const me = this.myId();
    const mentionsMe = me !== undefined && !mine && m.mentions.includes(me);
    const item = el(
      "li",
      {
        className: `msg${mine ? " mine" : ""}${m.deleted ? " deleted" : ""}${mentionsMe ? " mentions-me" : ""}`,
        // Focusable (by a click, a tap, or ↑/↓ in the log): a focused message shows its actions.
        attrs: { "data-seq": String(m.seq), "data-sender": m.sender, "data-sender-id": m.senderId, "data-time": String(sent.getTime()), tabindex: "-1" },
      },
      ...messageParts(m.sender, mine, timeElement(sent), textParagraph(m)),
    );
    if (m.replyTo && !m.deleted) item.querySelector(".body > .meta")!.after(replyQuote(m.replyTo));
    if (m.reactions.length > 0 && !m.deleted) {
      this.reactions.set(m.seq, m.reactions);
      showReactions(item, m.reactions, this.nameOf);
    }
    return item;
  }
}

/**
 * A message's parts: an avatar (initial on a colour from the name), then the
 * name, "you" on our own, the time (or state), and the text. In a group
 * (log-layout.ts) later messages hide avatar, name and time from sight but keep
 * them for screen readers.
 */
function messageParts(sender: string, mine: boolean, when: HTMLElement, text: HTMLElement): Node[] {
  let hash = 0;
  for (const ch of sender) hash = (hash * 31 + ch.codePointAt(0)!) >>> 0;
  const initial = [...sender][0]?.toUpperCase() ?? "?";
  const avatar = el("span", { className: "avatar", text: initial, attrs: { "aria-hidden": "true", "data-hue": String(hash % 8) } });
  const meta = el("div", { className: "meta" }, el("span", { className: "sender", text: sender }));
  if (mine) meta.append(el("span", { className: "you", text: "you" }));
  meta.append(when);
  return [avatar, el("div", { className: "body" }, meta, text)];
}

/** "ann and bob joined", "ann, bob and 3 others left": names as far as the digest lists them. */
function digestPart(names: string[], count: number, verb: string): string {
  if (count === 0 && names.length === 0) return "";
  const total = Math.max(count, names.length);
  const others = total - names.length;
  if (names.length === 0) return `${total} ${total === 1 ? "person" : "people"} ${verb}`;
  const listed = others > 0 ? [...names, `${others} ${others === 1 ? "other" : "others"}`] : names;
  const text = listed.length === 1 ? listed[0] : `${listed.slice(0, -1).join(", ")} and ${listed[listed.length - 1]}`;
  return `${text} ${verb}`;
}
