/**
 * Read receipts as a front end shows them: per joined room, where each other
 * member has read up to (the join's snapshot, then each ReadReceiptsEvent),
 * and whether the room has them on. "seen by alice, bob" under a message is
 * seenBy(room, seq). Pure bookkeeping, no I/O; ChatSession feeds it.
 */
import { ReadReceiptsSetting, RoomActionKind, type ChatMessage, type JoinedEvent, type ReadReceipt, type ReadReceiptsEvent } from "../../gen/chat/v1/chat_pb.js";

/** One member's position, as shown. */
export interface ReceiptView {
  userId: string;
  nickname: string;
  readSeq: bigint;
}

/** Users kept per room at most (the server lists at most a joined event's members, plus movers since). */
const MAX_PER_ROOM = 500;

interface RoomReceipts {
  on: boolean;
  byUser: Map<string, ReceiptView>;
}

export class ReceiptBook {
  private readonly rooms = new Map<string, RoomReceipts>();

  constructor(
    /** Told whenever a room's receipts change (the list as it is now, empty when off). */
    private readonly onChange: (room: string, receipts: ReceiptView[]) => void = () => {},
  ) {}

  /** A join (or rejoin): the snapshot replaces what we had. */
  onJoined(j: JoinedEvent): void {
    const room: RoomReceipts = { on: j.state?.readReceiptsOn ?? false, byUser: new Map() };
    this.rooms.set(j.room, room);
    for (const r of j.readReceipts) this.put(room, r);
    this.onChange(j.room, this.receipts(j.room));
  }

  onReceipts(e: ReadReceiptsEvent): void {
    const room = this.rooms.get(e.room);
    if (!room) return;
    // An event only comes while receipts are on (the room may have grown past the default's size: they still count).
    room.on = true;
    for (const r of e.receipts) this.put(room, r);
    this.onChange(e.room, this.receipts(e.room));
  }

  /** An entry of a room: a read receipts setting turns them on or off here. */
  onMessage(m: ChatMessage): void {
    if (m.action?.kind !== RoomActionKind.SET_READ_RECEIPTS) return;
    const room = this.rooms.get(m.room);
    if (!room) return;
    // UNSPECIFIED depends on the room's size, which only the server knows: the next event or join says.
    if (m.action.readReceipts === ReadReceiptsSetting.UNSPECIFIED) return;
    room.on = m.action.readReceipts === ReadReceiptsSetting.ON;
    if (!room.on) room.byUser.clear();
    this.onChange(m.room, this.receipts(m.room));
  }

  forget(room: string): void {
    if (this.rooms.delete(room)) this.onChange(room, []);
  }

  /** Whether the room shows receipts (as far as we know). */
  isOn(room: string): boolean {
    return this.rooms.get(room)?.on ?? false;
  }

  /** Every known position in the room, furthest first. */
  receipts(room: string): ReceiptView[] {
    const r = this.rooms.get(room);
    if (!r?.on) return [];
    return [...r.byUser.values()].sort((a, b) => (a.readSeq === b.readSeq ? 0 : a.readSeq > b.readSeq ? -1 : 1));
  }

  /** Nicknames of the members who have read the room up to `seq` or further. */
  seenBy(room: string, seq: bigint): string[] {
    return this.receipts(room)
      .filter((r) => r.readSeq >= seq)
      .map((r) => r.nickname);
  }

  private put(room: RoomReceipts, r: ReadReceipt): void {
    const before = room.byUser.get(r.userId);
    if (before && before.readSeq >= r.readSeq && before.nickname === r.nickname) return;
    if (!before && room.byUser.size >= MAX_PER_ROOM) return;
    room.byUser.set(r.userId, { userId: r.userId, nickname: r.nickname, readSeq: before && before.readSeq > r.readSeq ? before.readSeq : r.readSeq });
  }
}

/** "seen by alice, bob and 3 others" (empty when nobody). */
export function seenByLine(nicknames: readonly string[], maxNames = 3): string {
  if (nicknames.length === 0) return "";
  if (nicknames.length <= maxNames) return `seen by ${joinNames(nicknames)}`;
  const rest = nicknames.length - maxNames;
  return `seen by ${nicknames.slice(0, maxNames).join(", ")} and ${rest} other${rest === 1 ? "" : "s"}`;
}

function joinNames(names: readonly string[]): string {
  return names.length === 1 ? names[0] : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}
