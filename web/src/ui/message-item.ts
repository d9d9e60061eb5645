/**
 * Messages that change (issue 19) on the page: a message's text with
 * "(edited)", a deleted message's tombstone, the quote a reply shows of what
 * it answers, its reactions (chips under the text: emoji and count, pressed
 * when one is ours), and the actions on a message (Reply, React, Edit,
 * Delete) that show on hover and when the message has the keyboard focus.
 * The client core's messageChanged and reactionChanged events say what
 * changed; these functions bring a shown message (and the replies quoting
 * it) up to date in place.
 */
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { ChatMessage, ReactionCount, ReplyTo } from "../../../gen/chat/v1/chat_pb.js";
import { COMMON_EMOJI, reactionLabel } from "../../../src/client/index.js";
import { el } from "./dom.js";

export type MessageAction = "reply" | "react" | "edit" | "delete";

/** `key`: as aria-keyshortcuts names it; `shows`: as the tooltip shows it (default: the first key). */
const ACTION_LABELS: Record<MessageAction, { label: string; key: string; shows?: string }> = {
  reply: { label: "Reply", key: "R" },
  react: { label: "React", key: "Plus", shows: "+" },
  edit: { label: "Edit", key: "E" },
  delete: { label: "Delete", key: "Delete Backspace" },
};

const editedFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** The message's text paragraph: its text and "(edited)", or the tombstone. */
export function textParagraph(m: Pick<ChatMessage, "text" | "deleted" | "editedAt">): HTMLParagraphElement {
  if (m.deleted) return el("p", { className: "text tombstone", text: "Message deleted" });
  // Always as text: a message is never markup, whatever it contains.
  const p = el("p", { className: "text" }, el("span", { className: "content", text: m.text }));
  if (m.editedAt) p.append(" ", editedMark(m.editedAt));
  return p;
}

function editedMark(at: Timestamp): HTMLElement {
  return el("span", { className: "edited", text: "(edited)", attrs: { title: `Edited ${editedFormat.format(timestampDate(at))}` } });
}

/** "↳ bob: what was said…", or the tombstone of a deleted one: above a reply's text. */
export function replyQuote(to: Pick<ReplyTo, "seq" | "sender" | "quote" | "deleted">): HTMLElement {
  const quote = el("div", { className: "reply-quote", attrs: { "data-reply-to": String(to.seq) } });
  fillQuote(quote, to.sender, to.deleted, to.quote);
  return quote;
}

function fillQuote(quote: HTMLElement, sender: string, deleted: boolean, text: string): void {
  quote.replaceChildren(
    el("span", { className: "sr-only", text: "In reply to " }),
    el("span", { className: "arrow", text: "↳ ", attrs: { "aria-hidden": "true" } }),
    el("span", { className: "quote-sender", text: sender }),
    ": ",
    deleted ? el("em", { text: "message deleted" }) : el("span", { className: "quote-text", text }),
  );
  quote.classList.toggle("deleted", deleted);
}

/** A shown message was edited (the entry's text and time) or deleted. */
export function applyChange(item: HTMLElement, kind: "edit" | "delete", entry: ChatMessage): void {
  const old = item.querySelector(":scope > .body > .text");
  if (kind === "delete") {
    item.classList.add("deleted");
    item.querySelector(":scope > .body > .reply-quote")?.remove();
    item.querySelector(":scope > .body > .reactions")?.remove();
    item.querySelector(":scope > .reaction-picker")?.remove();
    item.querySelector(":scope > .msg-actions")?.remove();
    old?.replaceWith(textParagraph({ text: "", deleted: true, editedAt: undefined }));
    return;
  }
  if (item.classList.contains("deleted")) return;
  old?.replaceWith(textParagraph({ text: entry.text, deleted: false, editedAt: entry.sentAt }));
}

/** A reply's quote follows what it quotes: the new text, or the tombstone. */
export function applyChangeToQuote(quote: HTMLElement, kind: "edit" | "delete", quoted: string): void {
  const sender = quote.querySelector(".quote-sender")?.textContent ?? "";
  if (kind === "delete") fillQuote(quote, sender, true, "");
  else if (!quote.classList.contains("deleted")) fillQuote(quote, sender, false, quoted);
}

/** The text of a shown message as typed (for Edit to start from). */
export function shownText(item: HTMLElement): string {
  return item.querySelector(":scope > .body > .text > .content")?.textContent ?? "";
}

/** The buttons for what we may do to a message (none: no toolbar). */
export function actionBar(actions: MessageAction[]): HTMLElement | undefined {
  if (actions.length === 0) return undefined;
  return el(
    "div",
    { className: "msg-actions", attrs: { role: "group", "aria-label": "Message actions" } },
    ...actions.map((a) =>
      el("button", {
        className: `msg-action ${a}`,
        text: ACTION_LABELS[a].label,
        attrs: { type: "button", "data-msg-action": a, "aria-keyshortcuts": ACTION_LABELS[a].key, title: `${ACTION_LABELS[a].label} (${ACTION_LABELS[a].shows ?? ACTION_LABELS[a].key.split(" ")[0]})` },
      }),
    ),
  );
}

/**
 * A message's reactions as chips under its text: the emoji and how many, pressed
 * (aria-pressed) when one is ours; a click adds ours or takes it off. Read out as
 * "👍 2 reactions, you reacted".
 */
export function showReactions(item: HTMLElement, counts: readonly Pick<ReactionCount, "emoji" | "count" | "mine" | "userIds">[], nameOf: (userId: string) => string = (id) => id): void {
  const old = item.querySelector(":scope > .body > .reactions");
  if (counts.length === 0 || item.classList.contains("deleted")) return old?.remove();
  const bar = el(
    "div",
    { className: "reactions", attrs: { role: "group", "aria-label": "Reactions" } },
    ...counts.map((c) => {
      const others = c.count - c.userIds.length;
      // Who reacted, on hover: "ann, bob and 3 more".
      const who = `${c.userIds.map(nameOf).join(", ")}${others > 0 ? ` and ${others} more` : ""}`;
      return el(
        "button",
        {
          className: `reaction${c.mine ? " mine" : ""}`,
          attrs: { type: "button", "data-emoji": c.emoji, "aria-pressed": String(c.mine), "aria-label": reactionLabel(c), title: who },
        },
        el("span", { className: "emoji", text: c.emoji, attrs: { "aria-hidden": "true" } }),
        el("span", { className: "n", text: String(c.count), attrs: { "aria-hidden": "true" } }),
      );
    }),
  );
  if (old) old.replaceWith(bar);
  else item.querySelector(":scope > .body")!.append(bar);
}

/** The small picker React opens on a message: a row of common emoji. Escape or a pick closes it. */
export function reactionPicker(mine: ReadonlySet<string>): HTMLElement {
  return el(
    "div",
    { className: "reaction-picker", attrs: { role: "group", "aria-label": "Pick a reaction" } },
    ...COMMON_EMOJI.map((e) =>
      el("button", {
        className: `pick${mine.has(e) ? " mine" : ""}`,
        text: e,
        attrs: { type: "button", "data-pick": e, "aria-pressed": String(mine.has(e)), "aria-label": mine.has(e) ? `Remove your ${e} reaction` : `React with ${e}` },
      }),
    ),
  );
}
