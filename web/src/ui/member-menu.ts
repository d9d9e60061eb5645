/**
 * The members menu: pressing a member in the Members panel opens a menu of
 * what we may do to them — send a direct message, and, by our role in the
 * room (RoomState.your_role, then the room's entries), kick, ban, mute or
 * unmute, and set their role. Only the items our role allows are shown, as
 * the server decides them (room-state.ts): a moderator acts on members and
 * visitors, never on a moderator or an owner; an owner acts on anyone and sets
 * roles. A direct-message room has no moderation. Our own entry offers to
 * change our nickname (in every room, as IRC's /nick).
 *
 * Keyboard as the WAI-ARIA menu button pattern: Enter, Space or ArrowDown
 * opens it on its first item, arrows move, Home/End jump, Escape or Tab
 * closes it (Escape back to the member's button).
 */
import { RoomRole, type Member } from "../../../gen/chat/v1/chat_pb.js";
import { el } from "./dom.js";

export type MemberCommand = "message" | "kick" | "ban" | "mute" | "unmute" | "make-owner" | "make-moderator" | "make-member" | "rename";

/** What the menu needs to know to decide its items. */
export interface MenuContext {
  /** Our role in the room. */
  mine: RoomRole;
  /** The room is a direct-message room. */
  direct: boolean;
  /** We are signed in (direct messages need it). */
  signedIn: boolean;
  /** The member is us. */
  self: boolean;
  /** We saw the member muted. */
  muted: boolean;
}

/** The items the menu shows for a member, in order (empty: the member is plain text, no menu). */
export function menuItems(member: Member, ctx: MenuContext): { command: MemberCommand; label: string }[] {
  const items: { command: MemberCommand; label: string }[] = [];
  if (ctx.self) return [{ command: "rename", label: "Change your nickname…" }];
  const name = member.nickname;
  if (ctx.signedIn && !ctx.direct) items.push({ command: "message", label: `Message ${name}` });
  if (ctx.direct) return items;
  const mayModerate = ctx.mine >= RoomRole.MODERATOR && (member.role < RoomRole.MODERATOR || ctx.mine === RoomRole.OWNER);
  if (mayModerate) {
    items.push({ command: "kick", label: `Kick ${name}…` }, { command: "ban", label: `Ban ${name}…` });
    items.push(ctx.muted ? { command: "unmute", label: `Unmute ${name}` } : { command: "mute", label: `Mute ${name}…` });
  }
  if (ctx.mine === RoomRole.OWNER) {
    if (member.role !== RoomRole.MODERATOR) items.push({ command: "make-moderator", label: "Make moderator" });
    if (member.role !== RoomRole.OWNER) items.push({ command: "make-owner", label: "Make owner" });
    if (member.role !== RoomRole.MEMBER) items.push({ command: "make-member", label: "Make member (no moderation rights)" });
  }
  return items;
}

export class MemberMenu {
  /** The member whose menu is open. */
  private openFor: string | undefined;

  constructor(
    private readonly menu: HTMLUListElement,
    signal: AbortSignal,
    private readonly onCommand: (nickname: string, command: MemberCommand) => void,
  ) {
    menu.addEventListener(
      "click",
      (ev) => {
        const item = (ev.target as Element).closest<HTMLElement>("[data-command]");
        if (!item || this.openFor === undefined) return;
        const nickname = this.openFor;
        // Back on the member's button: a dialog the item opens returns focus there when it closes.
        this.close(true);
        this.onCommand(nickname, item.dataset.command as MemberCommand);
      },
      { signal },
    );
    menu.addEventListener("keydown", (ev) => this.onKey(ev), { signal });
    // Escape closes an open menu wherever focus is (the member's button, after a pointer opened it) and
    // nothing else: captured before the side panel's own Escape.
    window.addEventListener(
      "keydown",
      (ev) => {
        if (ev.key !== "Escape" || this.openFor === undefined) return;
        ev.stopPropagation();
        ev.preventDefault();
        this.close(true);
      },
      { signal, capture: true },
    );
    // A press anywhere else closes it.
    document.addEventListener(
      "pointerdown",
      (ev) => {
        if (this.openFor !== undefined && !this.menu.contains(ev.target as Node) && !this.button()?.contains(ev.target as Node)) this.close(false);
      },
      { signal },
    );
  }

  get isOpen(): boolean {
    return this.openFor !== undefined;
  }

  /** Open (or close, if open) the menu of a member, under its button. */
  toggle(button: HTMLButtonElement, items: { command: MemberCommand; label: string }[], focusFirst: boolean): void {
    const nickname = button.dataset.member!;
    if (this.openFor === nickname) return this.close(true);
    this.close(false);
    this.openFor = nickname;
    this.menu.setAttribute("aria-label", `Actions for ${nickname}`);
    this.menu.replaceChildren(
      ...items.map((item) => el("li", { attrs: { role: "none" } }, el("button", { text: item.label, attrs: { type: "button", role: "menuitem", tabindex: "-1", "data-command": item.command } }))),
    );
    button.setAttribute("aria-expanded", "true");
    button.closest("li")!.append(this.menu);
    this.menu.hidden = false;
    if (focusFirst) this.items()[0]?.focus();
  }

  /** The member list was redrawn: the menu follows its member's new button, or closes if they are gone. */
  reattach(): void {
    if (this.openFor === undefined) return;
    const button = this.button();
    if (!button) return this.close(false);
    const hadFocus = this.menu.contains(document.activeElement);
    button.setAttribute("aria-expanded", "true");
    button.closest("li")!.append(this.menu);
    if (hadFocus) this.items()[0]?.focus();
  }

  close(refocus: boolean): void {
    if (this.openFor === undefined) return;
    const button = this.button();
    this.openFor = undefined;
    this.menu.hidden = true;
    this.menu.replaceChildren();
    button?.setAttribute("aria-expanded", "false");
    if (refocus) button?.focus();
  }

  private button(): HTMLButtonElement | undefined {
    if (this.openFor === undefined) return undefined;
    return [...document.querySelectorAll<HTMLButtonElement>("#members button[data-member]")].find((b) => b.dataset.member === this.openFor);
  }

  private items(): HTMLButtonElement[] {
    return [...this.menu.querySelectorAll<HTMLButtonElement>("[role=menuitem]")];
  }

  private onKey(ev: KeyboardEvent): void {
    const items = this.items();
    const at = items.indexOf(document.activeElement as HTMLButtonElement);
    const move = (i: number) => items[(i + items.length) % items.length]?.focus();
    switch (ev.key) {
      case "ArrowDown":
        move(at + 1);
        break;
      case "ArrowUp":
        move(at - 1);
        break;
      case "Home":
        move(0);
        break;
      case "End":
        move(items.length - 1);
        break;
      case "Tab":
        this.close(false);
        return;
      default:
        return;
    }
    ev.preventDefault();
  }
}
