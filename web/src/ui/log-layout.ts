/**
 * How a room's log reads as a conversation, as Slack, Discord and Element lay
 * it out: a line for each new day, and consecutive messages from one sender
 * within a few minutes grouped under one name and time. Works on the log's
 * items (each carries data-time, and data-sender when it is a message), so
 * history pages, live messages and pending ones can arrive in any order: after
 * each change one pass puts the separators and groups right, touching only
 * what changes (the log is a live region: re-adding a separator would be
 * announced again).
 */
import { el } from "./dom.js";

/** Messages further apart than this start a new group, even from the same sender. */
export const GROUP_GAP_MS = 5 * 60_000;

/** The local calendar day of a time, as a sortable key (YYYY-MM-DD). */
export function dayKey(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

const longDate = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });

/** "Today", "Yesterday" or the full date. */
export function dayLabel(date: Date, now = new Date()): string {
  const key = dayKey(date);
  if (key === dayKey(now)) return "Today";
  const yesterday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1);
  if (key === dayKey(yesterday)) return "Yesterday";
  return longDate.format(date);
}

/** Whether `item` continues `previous`'s group: both messages, one sender, close in time (same day by then). */
export function continues(previous: HTMLElement | null, item: HTMLElement): boolean {
  if (!previous || previous.dataset.sender === undefined || item.dataset.sender === undefined) return false;
  if (previous.dataset.sender !== item.dataset.sender) return false;
  const gap = Number(item.dataset.time) - Number(previous.dataset.time);
  return gap >= 0 && gap < GROUP_GAP_MS;
}

/** Put the day separators and message groups of a log right. */
export function layoutLog(log: HTMLElement, now = new Date()): void {
  let day: string | undefined;
  let previous: HTMLElement | null = null;
  for (const node of [...log.children] as HTMLElement[]) {
    if (node.classList.contains("day")) {
      // Inside a day already open (an older history page came in above it): one line per day.
      if (node.dataset.day === day) node.remove();
      // Otherwise kept only where it still opens its day (checked when the next item comes).
      continue;
    }
    if (node.dataset.time === undefined) continue; // the empty-room line: outside the flow of days
    const date = new Date(Number(node.dataset.time));
    const key = dayKey(date);
    if (key !== day) {
      ensureSeparator(log, node, key, dayLabel(date, now));
      day = key;
      previous = null;
    }
    node.classList.toggle("cont", continues(previous, node));
    previous = node;
  }
  // Separators whose day has no item after them (their messages left the log).
  for (const sep of [...log.querySelectorAll<HTMLElement>(":scope > li.day")]) {
    const next = sep.nextElementSibling as HTMLElement | null;
    if (!next || next.classList.contains("day") || next.dataset.time === undefined || dayKey(new Date(Number(next.dataset.time))) !== sep.dataset.day) sep.remove();
  }
}

/** A separator for `key` right before `item`: the one already there, or a new one. */
function ensureSeparator(log: HTMLElement, item: HTMLElement, key: string, label: string): void {
  const before = item.previousElementSibling as HTMLElement | null;
  if (before?.classList.contains("day") && before.dataset.day === key) {
    if (before.textContent !== label) before.firstElementChild!.textContent = label; // yesterday's "Today"
    return;
  }
  log.insertBefore(el("li", { className: "day", attrs: { "data-day": key } }, el("span", { text: label })), item);
}
