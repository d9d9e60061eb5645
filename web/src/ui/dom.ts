/** DOM helpers. Text from the network only ever goes in through textContent, never as HTML. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: { className?: string; text?: string; attrs?: Record<string, string> } = {}, ...children: Node[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.className) node.className = props.className;
  if (props.text !== undefined) node.textContent = props.text;
  for (const [name, value] of Object.entries(props.attrs ?? {})) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page has no #${id}`);
  return node as T;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** A <time> showing hours and minutes, with the full date for assistive technology and on hover. */
export function timeElement(date: Date): HTMLTimeElement {
  const node = el("time", { text: timeFormat.format(date), attrs: { datetime: date.toISOString(), title: dateTimeFormat.format(date) } });
  node.setAttribute("aria-label", dateTimeFormat.format(date));
  return node;
}

/** Whether a scrolled list is (nearly) at its bottom: new messages then keep it there. */
export function atBottom(node: HTMLElement): boolean {
  return node.scrollHeight - node.scrollTop - node.clientHeight < 40;
}
