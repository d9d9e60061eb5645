/** A small typed event emitter (node:events is not in browsers). Listeners run synchronously, in order. */
type Listener<Args extends unknown[]> = (...args: Args) => void;

export class Emitter<Events extends { [K in keyof Events]: unknown[] }> {
  // Stored untyped: each set only ever holds listeners of its own event's type.
  private readonly listeners = new Map<keyof Events, Set<unknown>>();

  /** Add a listener; returns a function that removes it. */
  on<K extends keyof Events>(name: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  protected emit<K extends keyof Events>(name: K, ...args: Events[K]): void {
    for (const listener of [...(this.listeners.get(name) ?? [])]) (listener as Listener<Events[K]>)(...args);
  }
}
