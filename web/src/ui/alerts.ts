/**
 * Errors in plain words at the top of the page. Each stays until it no longer
 * applies (its scope ends: the chat screen is left, the connection is back, the
 * room it was about is joined) or until the user dismisses it: nothing hides
 * itself on a timer, so a real error is never gone before it is read.
 */
import { el } from "./dom.js";

/** What an error belongs to: it is cleared when that ends. */
export type AlertScope = "login" | "chat" | "connection";

/** At most this many errors show at once; older ones go first. */
const MAX_SHOWN = 4;

export class Alerts {
  constructor(private readonly box: HTMLElement) {
    // One listener for every dismiss button, bound once for the page's life.
    box.addEventListener("click", (ev) => {
      const button = (ev.target as Element).closest("button[data-dismiss]");
      const item = button?.closest("li");
      if (item) this.remove(item);
    });
  }

  /**
   * Show an error (or, `tone` "note", something the user should know that
   * went right, styled apart); one with the same key replaces the one before
   * it (no pile of the same complaint).
   */
  show(text: string, scope: AlertScope, key = text, tone: "error" | "note" = "error"): void {
    this.find((item) => item.dataset.key === key).forEach((item) => item.remove());
    const item = el(
      "li",
      { className: tone === "note" ? "note" : "", attrs: { "data-scope": scope, "data-key": key } },
      el("span", { className: "alert-text", text }),
      el("button", { className: "dismiss", text: "×", attrs: { type: "button", "data-dismiss": "", "aria-label": tone === "note" ? "Dismiss this note" : "Dismiss this error", title: "Dismiss" } }),
    );
    this.list().append(item);
    const items = [...this.list().children];
    for (const old of items.slice(0, Math.max(0, items.length - MAX_SHOWN))) old.remove();
    this.box.hidden = false;
  }

  /** Errors that no longer apply: a whole scope, or one key. */
  clear(scope?: AlertScope, key?: string): void {
    for (const item of this.find((i) => (scope === undefined || i.dataset.scope === scope) && (key === undefined || i.dataset.key === key))) this.remove(item);
  }

  private remove(item: Element): void {
    item.remove();
    if (this.list().children.length === 0) this.box.hidden = true;
  }

  private find(match: (item: HTMLElement) => boolean): HTMLElement[] {
    return ([...this.list().children] as HTMLElement[]).filter(match);
  }

  private list(): HTMLUListElement {
    return this.box.querySelector("ul")!;
  }
}
