/**
 * @mentions in the message box: Tab after "@an" completes the name of a
 * member of the room on screen ("@ann "), so a mention is typed the way the
 * page then reads it (a nickname the room knows: chat-app.ts turns it into
 * the member's user id when sending). Tab with nothing to complete keeps its
 * usual meaning (the next control).
 */

/** The completed text and caret, or undefined when there is no "@prefix" before the caret that a name starts with. */
export function completeMention(value: string, caret: number, names: readonly string[]): { value: string; caret: number } | undefined {
  const before = value.slice(0, caret);
  const match = /(?:^|\s)@([^\s@]*)$/.exec(before);
  if (!match) return undefined;
  const prefix = match[1].toLowerCase();
  // The shortest name first: "@an" picks "ann" before "annabel" (typing more picks the longer).
  const name = [...names].sort((a, b) => a.length - b.length || a.localeCompare(b)).find((n) => n.toLowerCase().startsWith(prefix) && n.toLowerCase() !== prefix);
  if (name === undefined || /\s/.test(name)) return undefined;
  const start = caret - match[1].length;
  const after = value.slice(caret);
  const completed = `${value.slice(0, start)}${name}${after.startsWith(" ") ? "" : " "}`;
  return { value: completed + after, caret: completed.length + (after.startsWith(" ") ? 1 : 0) };
}
