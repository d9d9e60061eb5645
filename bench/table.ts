/** Plain-text tables and number formatting for the report. */

export type Cell = string | number | undefined;

/** A table with a title; numbers are right-aligned, text left-aligned. */
export function table(title: string, headers: string[], rows: Cell[][]): string {
  const text = rows.map((r) => r.map((c) => (c === undefined ? "-" : String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? "").length)));
  const right = headers.map((_, i) => rows.every((r) => typeof r[i] !== "string" || /^[-+]?[\d.,]+[×%]?$|^-$/.test(r[i] as string)));
  const line = (cells: string[]) =>
    "| " + cells.map((c, i) => (right[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(" | ") + " |";
  const rule = "|" + widths.map((w, i) => (right[i] ? "-".repeat(w + 1) + ":" : "-".repeat(w + 2))).join("|") + "|";
  return [`### ${title}`, "", line(headers), rule, ...text.map(line), ""].join("\n");
}

export function fixed(n: number | undefined, digits = 1): string | undefined {
  return n === undefined || !Number.isFinite(n) ? undefined : n.toFixed(digits);
}

export function int(n: number | undefined): string | undefined {
  return n === undefined || !Number.isFinite(n) ? undefined : Math.round(n).toLocaleString("en-US");
}

export function mib(bytes: number | undefined): string | undefined {
  return bytes === undefined ? undefined : (bytes / 1024 / 1024).toFixed(1);
}

export function kib(bytes: number | undefined): string | undefined {
  return bytes === undefined ? undefined : (bytes / 1024).toFixed(1);
}

export function times(r: number | undefined): string | undefined {
  return r === undefined || !Number.isFinite(r) ? undefined : `${r.toFixed(2)}×`;
}
