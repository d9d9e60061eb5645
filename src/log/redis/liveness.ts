/**
 * Whether Redis answers, asked on a timer. A frozen Redis (stopped, swapping,
 * stuck in a long script) keeps its TCP connections open, so ioredis still
 * says "ready": only a question with a deadline tells. The probe runs every
 * third of the command timeout and gives each answer the rest of it, so a
 * Redis that stops answering is noticed within one command timeout.
 */

export interface LivenessOptions {
  /** Ask once: resolves true when Redis answered as healthy (cluster: every master in cluster_state:ok). */
  probe(): Promise<boolean>;
  commandTimeoutMs: number;
  /** Told whenever the answer changes. */
  onChange(alive: boolean): void;
}

export class Liveness {
  private aliveNow = true;
  private timer: NodeJS.Timeout | undefined;
  private asking = false;

  constructor(private readonly options: LivenessOptions) {}

  get alive(): boolean {
    return this.aliveNow;
  }

  start(): void {
    if (this.timer) return;
    const interval = Math.max(50, Math.floor(this.options.commandTimeoutMs / 3));
    this.timer = setInterval(() => void this.ask(interval), interval);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A connection has just (re)connected and passed its handshake: it answers. */
  reset(): void {
    this.set(true);
  }

  private ask(interval: number): void {
    // One question at a time (each ends within the command timeout): a frozen Redis must not collect a queue of them.
    if (this.asking) return;
    this.asking = true;
    const deadline = setTimeout(() => this.set(false), Math.max(50, this.options.commandTimeoutMs - interval));
    void this.options
      .probe()
      .catch(() => false)
      .then((healthy) => {
        clearTimeout(deadline);
        this.asking = false;
        if (this.timer) this.set(healthy);
      });
  }

  private set(alive: boolean): void {
    if (alive === this.aliveNow) return;
    this.aliveNow = alive;
    this.options.onChange(alive);
  }
}
