/**
 * The message box under the room: Enter sends, Shift+Enter starts a new line,
 * typing is announced, and the byte count (composer-limit.ts) shows near the
 * server's limit and stops a send past it. Its listeners end with the signal
 * it is given (the ChatApp's, aborted when the chat screen is left).
 */
import { textBudget, type TextBudget } from "./composer-limit.js";
import { byId } from "./dom.js";
import { completeMention } from "./mention-complete.js";

export class Composer {
  private readonly form = byId<HTMLFormElement>("composer");
  private readonly input = byId<HTMLTextAreaElement>("composer-input");
  private readonly label = byId("composer-label");
  private readonly send = byId<HTMLButtonElement>("send");
  private readonly count = byId("composer-count");
  private readonly context = byId("composer-context");
  private readonly contextText = byId("composer-context-text");
  /** Called when the reply or edit under way is cancelled (Escape, Cancel). */
  onCancelContext: () => void = () => {};
  /** The nicknames "@" completes to with Tab (the room on screen's members, not us). */
  mentionNames: () => string[] = () => [];

  constructor(
    signal: AbortSignal,
    /** Send this text; true when it was queued (the box is then emptied). */
    private readonly onSend: (text: string) => boolean,
    /** Something was typed (not sent yet). */
    onTyping: () => void,
  ) {
    this.form.addEventListener(
      "submit",
      (ev) => {
        ev.preventDefault();
        this.sendTyped();
      },
      { signal },
    );
    this.input.addEventListener(
      "keydown",
      (ev) => {
        if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
          ev.preventDefault();
          this.sendTyped();
        } else if (ev.key === "Tab" && !ev.shiftKey && !ev.altKey && !ev.ctrlKey && !ev.metaKey && this.completeMention()) {
          ev.preventDefault();
        } else if (ev.key === "Escape" && !this.context.hidden) {
          ev.preventDefault();
          this.cancelContext();
        }
      },
      { signal },
    );
    this.input.addEventListener(
      "input",
      () => {
        this.updateCount();
        if (this.input.value !== "") onTyping();
      },
      { signal },
    );
    byId("composer-context-cancel").addEventListener("click", () => this.cancelContext(), { signal });
    this.updateCount();
  }

  /**
   * Say what the box does now: reply to a message, or edit one (`text`: the box
   * starts with it; Save instead of Send). undefined: back to a new message.
   */
  setContext(what: string | undefined, edit?: { text: string }): void {
    const wasEditing = this.send.textContent === "Save";
    this.context.hidden = what === undefined;
    this.contextText.textContent = what ?? "";
    this.send.textContent = edit ? "Save" : "Send";
    if (edit) this.input.value = edit.text;
    else if (wasEditing) this.input.value = ""; // an abandoned edit is not a draft
    this.updateCount();
    if (what !== undefined) this.focus();
  }

  /** Tab after "@an": the member's name, and whether there was one to complete. */
  private completeMention(): boolean {
    const caret = this.input.selectionStart;
    if (caret === null || caret !== this.input.selectionEnd) return false;
    const done = completeMention(this.input.value, caret, this.mentionNames());
    if (!done) return false;
    this.input.value = done.value;
    this.input.setSelectionRange(done.caret, done.caret);
    this.updateCount();
    return true;
  }

  private cancelContext(): void {
    this.setContext(undefined);
    this.onCancelContext();
  }

  /** Label the box for the room on screen (none: the chat screen is being left). */
  /** The room on screen, as it is called there ("#lobby", "@bob"). */
  setRoom(title: string | undefined): void {
    this.label.textContent = title === undefined ? "Message" : `Message ${title}`;
  }

  focus(): void {
    this.input.focus();
  }

  /** Empty the box (a new sign-in starts with nothing typed). */
  reset(): void {
    this.input.value = "";
    this.context.hidden = true;
    this.send.textContent = "Send";
    this.updateCount();
  }

  private sendTyped(): void {
    const text = this.input.value;
    if (text.trim() === "") return;
    if (this.updateCount().over) return; // the note under the box says why
    if (!this.onSend(text)) return;
    this.reset();
  }

  /** The byte count near the limit, and no sending past it (the text is never cut). */
  private updateCount(): TextBudget {
    const budget = textBudget(this.input.value);
    this.count.textContent = budget.note;
    this.count.classList.toggle("over", budget.over);
    this.send.disabled = budget.over;
    this.input.setAttribute("aria-invalid", String(budget.over));
    return budget;
  }
}
