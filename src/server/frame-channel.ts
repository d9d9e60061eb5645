/**
 * Frames from a hub session to a pull-based consumer: a Connect handler's
 * response generator, which connect-node only pulls once the previous message
 * is written and the socket has drained. So "the consumer took a frame" is
 * the transport's drain, and the session's bounded queue (with its too-slow
 * rule) holds everything else: at most about `highWaterBytes` wait here.
 */
import type { ConnectError } from "@connectrpc/connect";

export class FrameChannel implements AsyncIterable<Uint8Array> {
  private frames: Uint8Array[] = [];
  private bytes = 0;
  private blocked = false;
  private ended = false;
  private error: ConnectError | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly highWaterBytes: number,
    /** Called when the consumer has taken what was waiting after a write said "full". */
    private readonly onDrain: () => void,
  ) {}

  /** Take a frame; false once enough waits that the producer should stop until onDrain. */
  write(frame: Uint8Array): boolean {
    if (this.ended) return false;
    this.frames.push(frame);
    this.bytes += frame.length;
    this.notify();
    if (this.bytes >= this.highWaterBytes) this.blocked = true;
    return !this.blocked;
  }

  /** No more frames: the consumer finishes after what is waiting (clean end), or fails with `error` then. */
  end(error: ConnectError | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    this.notify();
  }

  /** Drop what waits and stop: the consumer is gone. */
  close(): void {
    this.frames = [];
    this.bytes = 0;
    this.end(undefined);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for (;;) {
      const frame = this.frames.shift();
      if (frame) {
        this.bytes -= frame.length;
        if (this.blocked && this.frames.length === 0) {
          this.blocked = false;
          this.onDrain();
        }
        yield frame;
        continue;
      }
      if (this.ended) {
        if (this.error) throw this.error;
        return;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
