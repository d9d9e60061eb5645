/**
 * Messages the user sent that the server has not acknowledged yet, in the
 * order they were typed. An entry stays here until its broadcast copy comes
 * back (the acknowledgement), so a dropped connection loses nothing: after
 * reconnecting, every entry is sent again with the same client_msg_id and the
 * server stores it at most once. Bounded, so a long outage cannot grow the
 * process without limit; the caller decides what to tell the user when full.
 */
export interface OutgoingMessage {
  readonly id: string;
  readonly room: string;
  readonly text: string;
  /** Connection generation it was last written to; undefined: not written on the current one. */
  sentOn: number | undefined;
  /** Times the server refused it with a retryable error. */
  refusals: number;
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
  add(id: string, room: string, text: string): OutgoingMessage | undefined {
    if (this.isFull) return undefined;
    const entry: OutgoingMessage = { id, room, text, sentOn: undefined, refusals: 0 };
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
}
