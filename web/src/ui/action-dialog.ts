/**
 * The dialog that asks what a kick, ban or mute needs before it is sent: a
 * reason (shown to the room) and, for a ban or a mute, for how long; a
 * room's new topic; a user id to invite or unban (with suggestions); one of
 * a few settings (a room's read receipts). A modal
 * <dialog>: the browser keeps focus inside it, Escape cancels, and focus goes
 * back to where it was when it closes.
 */
import { byId, el } from "./dom.js";

export interface ActionDetails {
  reason: string;
  /** Seconds from now; 0: until lifted. */
  durationS: number;
  /** The value of the option chosen, when the dialog offered a choice. */
  choice: string;
}

/** A choice of one setting among a few, with the current one selected. */
export interface DialogChoice {
  label: string;
  options: { value: string; label: string }[];
  value: string;
}

export class ActionDialog {
  private readonly dialog = byId<HTMLDialogElement>("action-dialog");
  private readonly title = byId("action-dialog-title");
  private readonly reasonField = byId("action-reason-field");
  private readonly reason = byId<HTMLInputElement>("action-reason");
  private readonly reasonLabel = byId("action-reason-label");
  private readonly durationField = byId("action-duration-field");
  private readonly duration = byId<HTMLSelectElement>("action-duration");
  private readonly choiceField = byId("action-choice-field");
  private readonly choiceLabel = byId("action-choice-label");
  private readonly choice = byId<HTMLSelectElement>("action-choice");
  private readonly confirm = byId<HTMLButtonElement>("action-confirm");
  private readonly suggestions = byId<HTMLDataListElement>("action-suggestions");
  private answer: ((details: ActionDetails | undefined) => void) | undefined;

  constructor(signal: AbortSignal) {
    byId("action-cancel").addEventListener("click", () => this.dialog.close(""), { signal });
    byId<HTMLFormElement>("action-form").addEventListener("submit", () => (this.dialog.returnValue = "ok"), { signal });
    this.dialog.addEventListener("close", () => this.settle(this.dialog.returnValue === "ok"), { signal });
    signal.addEventListener("abort", () => this.dialog.open && this.dialog.close(""));
  }

  /** Ask; resolves with what was entered, or undefined when cancelled. */
  ask(
    title: string,
    confirmLabel: string,
    fields: { reason: boolean; duration: boolean; text?: { label: string; value: string; suggestions?: string[] }; choice?: DialogChoice },
  ): Promise<ActionDetails | undefined> {
    this.settle(false);
    this.title.textContent = title;
    this.confirm.textContent = confirmLabel;
    // One text field: a reason by default, or what `text` names (a topic).
    this.reasonField.hidden = !fields.reason && !fields.text;
    this.durationField.hidden = !fields.duration;
    this.reasonLabel.replaceChildren(...(fields.text ? [fields.text.label] : ["Reason ", el("span", { className: "muted", text: "(shown to the room)" })]));
    this.reason.value = fields.text?.value ?? "";
    // Offered as the field's choices (a reason or a topic gets none).
    this.suggestions.replaceChildren(...(fields.text?.suggestions ?? []).map((value) => el("option", { attrs: { value } })));
    this.duration.value = "0";
    this.choiceField.hidden = !fields.choice;
    this.choiceLabel.textContent = fields.choice?.label ?? "";
    this.choice.replaceChildren(...(fields.choice?.options ?? []).map((o) => el("option", { text: o.label, attrs: { value: o.value } })));
    this.choice.value = fields.choice?.value ?? "";
    this.dialog.returnValue = "";
    this.dialog.showModal();
    (!this.reasonField.hidden ? this.reason : !this.durationField.hidden ? this.duration : this.choice).focus();
    return new Promise((resolve) => (this.answer = resolve));
  }

  private settle(ok: boolean): void {
    const answer = this.answer;
    this.answer = undefined;
    answer?.(ok ? { reason: this.reason.value.trim(), durationS: Number(this.duration.value), choice: this.choice.value } : undefined);
  }
}
