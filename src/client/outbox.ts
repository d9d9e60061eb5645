/**
 * Messages the user sent that the server has not acknowledged yet, in the
 * order they were typed. An entry stays here until its broadcast copy comes
 * back (the acknowledgement), so a dropped connection loses nothing: after
 * reconnecting, every entry is sent again with the same client_msg_id and the
 * server stores it at most once. Bounded, so a long outage cannot grow the
 * process without limit; the caller decides what to tell the user when full.
 *
 * Head of line, per room: only a room's oldest entry is ever on the wire. The
 * next one goes out once it is acknowledged (or given up on for good). That
 * is what keeps the typed order when the server refuses a message for a
 * moment (its room log unavailable, a rate limit): nothing behind a refused
 * message can overtake it, and a refusal that does not name its message
 * (older servers leave client_msg_id empty on rate-limit errors) can still be
 * pinned on the one message of that room that was in flight.
 */
export interface OutgoingMessage {
  readonly id: string;
  readonly room: string;
  readonly text: string;
  /** A reply: the sequence number of the message it answers. */
  readonly replyTo?: bigint;
  /** User ids the message mentions (SendCommand.mentions). */
  readonly mentions?: readonly string[];
  /** Not a message but an edit (text: the new text) or a delete (text: "") of an earlier one. */
  readonly change?: QueuedChange;
  /** Not a message but a reaction added to (or removed from) an earlier one (text: ""). */
  readonly reaction?: QueuedReaction;
  /** Connection generation it was last written to; undefined: not written on the current one. */
  sentOn: number | undefined;
  /** Transient refusals in a row (unavailable, rate-limited); reset by nothing: the entry leaves when stored. */
  refusals: number;
  /** Not to be written again before this time (ms since the epoch), after a refusal. */
  retryAt: number;
}

/** An edit or delete queued like a message (same idempotency key space, same head-of-line order). */
export interface QueuedChange {
  kind: "edit" | "delete";
  seq: bigint;
}

/** A reaction queued like a message (same idempotency key space, same head-of-line order). */
export interface QueuedReaction {
  seq: bigint;
  emoji: string;
  /** Remove our reaction instead of adding it. */
  remove: boolean;
}

export class Outbox {
  private readonly entries = new Map<string, OutgoingMessage>();

  constructor(readonly capacity = 1000) {}

  get size(): number {
    return this.entries.size;
  }

  get isFull(): boolean {
    return this.entries.size >= this.capacity;
  }

  /** Queue a message; undefined when the outbox is full. */
  add(id: string, room: string, text: string, extra: { replyTo?: bigint; change?: QueuedChange; reaction?: QueuedReaction; mentions?: readonly string[] } = {}): OutgoingMessage | undefined {
    if (this.isFull) return undefined;
    const entry: OutgoingMessage = { id, room, text, ...extra, sentOn: undefined, refusals: 0, retryAt: 0 };
    this.entries.set(id, entry);
    return entry;
  }

  get(id: string): OutgoingMessage | undefined {
    return this.entries.get(id);
  }

  /** Remove an entry (acknowledged, or given up on). */
  remove(id: string): OutgoingMessage | undefined {
    const entry = this.entries.get(id);
    this.entries.delete(id);
    return entry;
  }

  /** Every entry, oldest first (Map keeps insertion order). */
  all(): OutgoingMessage[] {
    return [...this.entries.values()];
  }

  /** A room's entries, oldest first (Map keeps insertion order). */
  forRoom(room: string): OutgoingMessage[] {
    return [...this.entries.values()].filter((e) => e.room === room);
  }

  countForRoom(room: string): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.room === room) n++;
    return n;
  }

  /** Each room's oldest entry: the only one that may be on the wire. */
  heads(): OutgoingMessage[] {
    const seen = new Map<string, OutgoingMessage>();
    for (const e of this.entries.values()) if (!seen.has(e.room)) seen.set(e.room, e);
    return [...seen.values()];
  }

  /** The entry written on connection `generation` and not answered yet, for a room (or for any room, if only one is). */
  inFlight(generation: number, room?: string): OutgoingMessage | undefined {
    const flying = this.heads().filter((e) => e.sentOn === generation && (room === undefined || room === "" || e.room === room));
    return flying.length === 1 ? flying[0] : undefined;
  }
}
