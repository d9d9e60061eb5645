/**
 * A small typed event emitter. The client core runs in browsers too, so it
 * cannot use node:events. As with Node's emitter, listeners run synchronously
 * in the order they were added, and one that throws throws out of emit().
 */
type Listener<Args extends unknown[]> = (...args: Args) => void;

export class Emitter<Events extends { [K in keyof Events]: unknown[] }> {
  // Stored untyped: each set only ever holds listeners of its own event's type.
  private readonly listeners = new Map<keyof Events, Set<Function>>();

  /** Add a listener; returns a function that removes it. */
  on<K extends keyof Events>(name: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener);
    return () => this.off(name, listener);
  }

  off<K extends keyof Events>(name: K, listener: Listener<Events[K]>): void {
    this.listeners.get(name)?.delete(listener);
  }

  /** The next emission of `name`, as a promise of its arguments. */
  next<K extends keyof Events>(name: K): Promise<Events[K]> {
    return new Promise((resolve) => {
      const off = this.on(name, (...args) => {
        off();
        resolve(args);
      });
    });
  }

  protected emit<K extends keyof Events>(name: K, ...args: Events[K]): void {
    const set = this.listeners.get(name);
    if (!set) return;
    // A copy: a listener may remove itself (or others) while we iterate.
    for (const listener of [...set]) (listener as Listener<Events[K]>)(...args);
  }
}
