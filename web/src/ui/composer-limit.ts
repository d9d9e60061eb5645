/**
 * The message box's limit, in the server's unit: bytes of UTF-8, not
 * characters (an "é" is two bytes, most emoji four). The box never cuts what
 * is typed or pasted; it counts, says so near the limit, and refuses to send
 * past it, saying by how much.
 */
import { TEXT_MAX_BYTES } from "../../../src/client/index.js";

/** The count shows from this share of the limit on: earlier it is only noise. */
const SHOW_FROM = 0.8;

const utf8 = new TextEncoder();
const number = new Intl.NumberFormat("en");

export interface TextBudget {
  bytes: number;
  over: boolean;
  /** What to show under the box ("" when far from the limit). */
  note: string;
}

export function textBudget(text: string, max = TEXT_MAX_BYTES): TextBudget {
  // Encoding a few kilobytes per keystroke costs microseconds: no shortcut needed.
  const bytes = utf8.encode(text).length;
  if (bytes < max * SHOW_FROM) return { bytes, over: false, note: "" };
  if (bytes <= max) return { bytes, over: false, note: `${number.format(bytes)} / ${number.format(max)} bytes` };
  return {
    bytes,
    over: true,
    note: `Too long to send: ${number.format(bytes)} / ${number.format(max)} bytes. Remove ${number.format(bytes - max)} bytes (accented letters count 2, emoji 4).`,
  };
}
