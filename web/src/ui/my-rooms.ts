/**
 * "My rooms" for a signed-in user (ListRooms mine, through the session's
 * myRooms): the private rooms and direct messages they are a member of, so
 * they come back on a new device. The server tells an open page at once when
 * someone opens a direct-message room with its user (chat-app.ts,
 * "directOpened"), but not of an invitation to a private room, and a page
 * offline then misses it: so the list is asked for again now and then while
 * the page is visible, and when it becomes visible.
 */
import type { RoomInfo } from "../../../gen/chat/v1/chat_pb.js";
import type { ChatSession } from "../../../src/client/index.js";

/** How often the list is asked for again while the page is visible. */
export const MY_ROOMS_REFRESH_MS = 10_000;

export class MyRooms {
  private readonly rooms = new Map<string, RoomInfo>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running = false;
  private stopped = false;

  constructor(
    private readonly session: ChatSession,
    signal: AbortSignal,
    /** The list changed (or arrived). */
    private readonly onChange: () => void,
    /** The list could not be fetched (said once per failure run). */
    private readonly onError: (err: unknown) => void,
  ) {
    signal.addEventListener("abort", () => {
      this.stopped = true;
      clearTimeout(this.timer);
    });
    document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && void this.refresh(), { signal });
  }

  /** Every room of the list, by name. */
  get all(): RoomInfo[] {
    return [...this.rooms.values()];
  }

  get(room: string): RoomInfo | undefined {
    return this.rooms.get(room);
  }

  /** We are out of a room for good (kicked, banned, deleted): not offered until the server lists it again. */
  forget(room: string): void {
    if (this.rooms.delete(room)) this.onChange();
  }

  private failing = false;
  /** How many lists arrived: a room first listed after the first one is new since the page opened. */
  private listings = 0;

  /** The list has arrived at least once before the latest: rooms new in it are news (someone opened a DM with us). */
  get hadEarlierListing(): boolean {
    return this.listings > 1;
  }

  /** Ask for the list now (and again in a while). */
  async refresh(): Promise<void> {
    if (this.stopped || this.running) return;
    this.running = true;
    clearTimeout(this.timer);
    try {
      const rooms = await this.session.myRooms();
      if (this.stopped) return;
      this.failing = false;
      this.listings++;
      this.rooms.clear();
      for (const r of rooms) this.rooms.set(r.name, r);
      this.onChange();
    } catch (err) {
      if (!this.failing && !this.stopped) this.onError(err);
      this.failing = true;
    } finally {
      this.running = false;
      if (!this.stopped) this.timer = setTimeout(() => document.visibilityState === "visible" && void this.refresh(), MY_ROOMS_REFRESH_MS);
    }
  }
}
