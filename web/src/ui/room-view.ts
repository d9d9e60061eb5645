/**
 * What the page shows of one room: its message log (in sequence order, with
 * our unacknowledged messages after it), its members and who is typing. The
 * session has already dropped duplicates; this keeps messages keyed by
 * sequence number anyway, so history pages and live messages can meet in any
 * order without showing one twice.
 */
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { ChatMessage, JoinedEvent, Member, PresenceEvent } from "../../../gen/chat/v1/chat_pb.js";
import { atBottom, el, timeElement } from "./dom.js";

/** Messages kept in a room's log at most: older ones leave the page and can be paged back (GetHistory). */
const MAX_SHOWN = 1000;

export class RoomView {
  readonly log: HTMLOListElement;
  /** Shown messages by sequence number; the log's children are in the same order, pending ones last. */
  private readonly bySeq = new Map<bigint, HTMLLIElement>();
  /** Shown sequence numbers, ascending. */
  private readonly order: bigint[] = [];
  private readonly pendingItems = new Map<string, HTMLLIElement>();
  private epoch = "";
  /** Oldest message shown, and whether older ones are stored (GetHistory pages back from it). */
  oldestSeq: bigint | undefined;
  hasOlder = false;
  readonly members = new Map<string, Member>();
  memberCount = 0;
  /** Where ListMembers continues; empty when `members` is the whole list. */
  membersPageToken = "";
  unread = 0;
  typing: string[] = [];
  joined = false;

  constructor(
    readonly name: string,
    private readonly me: () => string,
  ) {
    this.log = el("ol", { className: "messages", attrs: { role: "log", "aria-live": "polite", "aria-relevant": "additions", "aria-label": `Messages in #${name}`, tabindex: "0", "data-room": name } });
  }

  onJoined(j: JoinedEvent): void {
    this.joined = true;
    if (j.epoch !== this.epoch && this.epoch !== "") this.clear(); // another history: our sequence numbers mean nothing in it
    this.epoch = j.epoch;
    this.memberCount = j.memberCount;
    this.membersPageToken = j.membersPageToken;
    this.members.clear();
    for (const m of j.members) this.members.set(m.nickname, m);
    for (const m of j.recent) this.addMessage(m);
    if (this.oldestSeq === undefined) this.oldestSeq = j.lastSeq + 1n;
    this.hasOlder = j.firstSeq > 0n && this.oldestSeq > j.firstSeq;
  }

  /** Insert a message in sequence order; false if it is already shown. */
  addMessage(m: ChatMessage): boolean {
    if (this.bySeq.has(m.seq)) return false;
    const item = this.messageItem(m);
    const follow = atBottom(this.log);
    // Live messages are the newest (no step back); history pages step back over what is shown.
    let i = this.order.length;
    while (i > 0 && this.order[i - 1] > m.seq) i--;
    const before = i < this.order.length ? this.bySeq.get(this.order[i])! : (this.pendingItems.values().next().value ?? null);
    this.log.insertBefore(item, before);
    this.order.splice(i, 0, m.seq);
    this.bySeq.set(m.seq, item);
    if (this.oldestSeq === undefined || m.seq < this.oldestSeq) this.oldestSeq = m.seq;
    if (i === this.order.length - 1 && this.order.length > MAX_SHOWN) this.dropOldest();
    if (follow) this.scrollToEnd();
    return true;
  }

  /** Older messages from GetHistory, above what is shown; keeps the reader's place. */
  prependHistory(messages: ChatMessage[], hasMore: boolean): void {
    const fromBottom = this.log.scrollHeight - this.log.scrollTop;
    for (const m of messages) this.addMessage(m);
    this.hasOlder = hasMore;
    this.log.scrollTop = this.log.scrollHeight - fromBottom;
  }

  addPending(id: string, text: string): void {
    const item = el(
      "li",
      { className: "pending mine", attrs: { "data-pending": id } },
      el("div", { className: "meta" }, el("span", { className: "sender", text: this.me() }), el("span", { text: "sending…" })),
      el("p", { className: "text", text }),
    );
    this.pendingItems.set(id, item);
    this.log.append(item);
    this.scrollToEnd();
  }

  /** Our message was stored (its copy is in the log now) or given up on. */
  removePending(id: string, failure?: string): void {
    const item = this.pendingItems.get(id);
    if (!item) return;
    this.pendingItems.delete(id);
    if (failure === undefined) return item.remove();
    item.classList.remove("pending");
    item.querySelector(".meta span:last-child")!.textContent = `not sent: ${failure}`;
  }

  notice(text: string): void {
    this.log.append(el("li", { className: "notice", text }));
    this.scrollToEnd();
  }

  memberJoined(m: Member): void {
    this.memberCount++;
    if (this.membersPageToken === "") this.members.set(m.nickname, m);
  }

  memberLeft(nickname: string): void {
    if (this.members.delete(nickname) || this.memberCount > 0) this.memberCount = Math.max(0, this.memberCount - 1);
  }

  /** A large room's coalesced presence: the count is exact, the names as far as we list them. */
  presence(p: PresenceEvent): void {
    this.memberCount = p.memberCount;
    for (const nickname of p.left) this.members.delete(nickname);
    if (this.membersPageToken === "") for (const m of p.joined) this.members.set(m.nickname, m);
  }

  addMembersPage(members: Member[], nextPageToken: string, memberCount: number): void {
    for (const m of members) this.members.set(m.nickname, m);
    this.membersPageToken = nextPageToken;
    this.memberCount = memberCount;
  }

  scrollToEnd(): void {
    this.log.scrollTop = this.log.scrollHeight;
  }

  /** A long-open page in a busy room stays bounded: the oldest message leaves the log (and can be loaded again). */
  private dropOldest(): void {
    const seq = this.order.shift()!;
    this.bySeq.get(seq)?.remove();
    this.bySeq.delete(seq);
    this.oldestSeq = this.order[0];
    this.hasOlder = true;
  }

  private clear(): void {
    this.bySeq.clear();
    this.order.length = 0;
    for (const item of [...this.log.children]) if (!item.hasAttribute("data-pending")) item.remove();
    this.oldestSeq = undefined;
  }

  private messageItem(m: ChatMessage): HTMLLIElement {
    const sent = m.sentAt ? timestampDate(m.sentAt) : new Date();
    return el(
      "li",
      { className: m.sender === this.me() ? "mine" : "", attrs: { "data-seq": String(m.seq) } },
      el("div", { className: "meta" }, el("span", { className: "sender", text: m.sender }), timeElement(sent)),
      // Always as text: a message is never markup, whatever it contains.
      el("p", { className: "text", text: m.text }),
    );
  }
}
