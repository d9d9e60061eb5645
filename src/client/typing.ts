/**
 * Typing indicators, both ways. Outgoing: at most one TypingCommand per room
 * per interval (3 s), however fast the user types. Incoming: who is typing in
 * each room; a name goes away after a few seconds without a new TypingEvent
 * (the protocol has no "stopped typing"), or at once when that member's
 * message arrives or the member leaves.
 */
export interface TypingOptions {
  /** Least time between two TypingCommands for one room (default 3 s). */
  intervalMs?: number;
  /** A member counts as typing for this long after its last TypingEvent (default 5 s). */
  expiryMs?: number;
}

type Timer = ReturnType<typeof setTimeout>;

export class TypingTracker {
  private readonly intervalMs: number;
  private readonly expiryMs: number;
  private readonly lastSent = new Map<string, number>();
  /** Room → nickname → the timer that expires it, in the order they started typing. */
  private readonly typists = new Map<string, Map<string, Timer>>();

  constructor(
    options: TypingOptions,
    /** Told the new list whenever a room's typists change. */
    private readonly onChange: (room: string, nicknames: string[]) => void,
  ) {
    this.intervalMs = options.intervalMs ?? 3000;
    this.expiryMs = options.expiryMs ?? 5000;
  }

  /** Should a TypingCommand go out for this room now? (Records that it does.) */
  shouldSend(room: string, now = Date.now()): boolean {
    const last = this.lastSent.get(room);
    if (last !== undefined && now - last < this.intervalMs) return false;
    this.lastSent.set(room, now);
    return true;
  }

  /** A TypingEvent arrived. */
  started(room: string, nickname: string): void {
    let names = this.typists.get(room);
    if (!names) this.typists.set(room, (names = new Map()));
    const known = names.get(nickname);
    if (known !== undefined) clearTimeout(known);
    names.set(nickname, unref(setTimeout(() => this.stopped(room, nickname), this.expiryMs)));
    if (known === undefined) this.onChange(room, this.names(room));
  }

  /** The member sent a message or left: not typing any more. */
  stopped(room: string, nickname: string): void {
    const names = this.typists.get(room);
    const timer = names?.get(nickname);
    if (!names || timer === undefined) return;
    clearTimeout(timer);
    names.delete(nickname);
    if (names.size === 0) this.typists.delete(room);
    this.onChange(room, this.names(room));
  }

  /** We left the room (or lost the connection): forget who was typing there. */
  clearRoom(room: string): void {
    const names = this.typists.get(room);
    this.lastSent.delete(room);
    if (!names) return;
    for (const timer of names.values()) clearTimeout(timer);
    this.typists.delete(room);
    this.onChange(room, []);
  }

  clear(): void {
    for (const room of [...this.typists.keys()]) this.clearRoom(room);
    this.lastSent.clear();
  }

  names(room: string): string[] {
    return [...(this.typists.get(room)?.keys() ?? [])];
  }
}

/** Node timers keep the process alive; browsers' have no unref. */
export function unref<T>(timer: T): T {
  (timer as { unref?: () => void }).unref?.();
  return timer;
}
