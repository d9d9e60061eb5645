/**
 * What the page asks of a room with state, as the user does it: create a
 * room (name, visibility, topic), open a direct conversation (by user id, or
 * Message in the members menu), set the topic or the read receipts, invite to a private room,
 * unban (by user id: a banned user is no member, so no menu has them), and
 * the members menu's moderation (kick, ban, mute with a reason and a duration,
 * unmute, roles). Each goes through the session (the client core); what the
 * server refuses is said at the top in its words. The chat screen (ChatApp)
 * is the host: it owns the rooms' views and what is on screen.
 */
import { ReadReceiptsSetting, RoomActionKind, RoomRole } from "../../../gen/chat/v1/chat_pb.js";
import { checkRoom, describeError, RoomCommandError, type ChatSession, type RoomActionInit } from "../../../src/client/index.js";
import { ActionDialog } from "./action-dialog.js";
import { byId } from "./dom.js";
import type { MemberCommand } from "./member-menu.js";
import type { RoomView } from "./room-view.js";

/** What the chat screen lends to the room actions. */
export interface RoomActionsHost {
  /** The room on screen. */
  currentView(): RoomView | undefined;
  hasView(room: string): boolean;
  /** Join a room and show it; false (and why, at the top) if refused at once. */
  join(room: string): boolean;
  /** The view of a room being created (not shown yet). */
  ensureView(room: string): RoomView;
  show(room: string): void;
  /** Take a room's view away (its create was refused). */
  drop(room: string): void;
  alert(text: string, key?: string): void;
  clearAlert(key: string): void;
  /** An action took us to a room: fold the phone's panel, focus the message box. */
  settle(): void;
  /** Ask for "my rooms" again (a new direct conversation is one). */
  refreshMyRooms(): void;
}

export class RoomActions {
  private readonly dialog: ActionDialog;
  private readonly ui = {
    createDetails: byId<HTMLDetailsElement>("create-room"),
    createForm: byId<HTMLFormElement>("create-form"),
    createName: byId<HTMLInputElement>("create-name"),
    createTopic: byId<HTMLInputElement>("create-topic"),
    dmForm: byId<HTMLFormElement>("dm-form"),
    dmUser: byId<HTMLInputElement>("dm-user"),
  };

  constructor(
    private readonly session: ChatSession,
    private readonly host: RoomActionsHost,
    signal: AbortSignal,
  ) {
    this.dialog = new ActionDialog(signal);
    byId("edit-topic").addEventListener("click", () => void this.setTopic(), { signal });
    byId("read-receipts").addEventListener("click", () => void this.setReadReceipts(), { signal });
    byId("invite").addEventListener("click", () => void this.invite(), { signal });
    byId("unban").addEventListener("click", () => void this.unban(), { signal });
    this.ui.createForm.addEventListener(
      "submit",
      (ev) => {
        ev.preventDefault();
        const room = this.ui.createName.value.trim();
        if (room === "") return this.ui.createName.focus();
        const visibility = (new FormData(this.ui.createForm).get("visibility") as string) === "private" ? "private" : "public";
        void this.createRoom(room, visibility, this.ui.createTopic.value.trim()).then((ok) => {
          if (!ok) return;
          this.ui.createForm.reset();
          this.ui.createDetails.open = false;
          this.host.settle();
        });
      },
      { signal },
    );
    this.ui.dmForm.addEventListener(
      "submit",
      (ev) => {
        ev.preventDefault();
        const user = this.ui.dmUser.value.trim();
        if (user === "") return;
        // The field keeps what was typed when it is refused (the error says why).
        void this.openDirect(user).then((ok) => ok && (this.ui.dmUser.value = ""));
      },
      { signal },
    );
  }

  /** Empty the forms (a new sign-in starts with nothing typed). */
  reset(): void {
    this.ui.createForm.reset();
    this.ui.createDetails.open = false;
    this.ui.dmUser.value = "";
  }

  /** Create a room (we own it) and show it; false (and why, at the top) if refused at once. */
  async createRoom(room: string, visibility: "public" | "private", topic: string): Promise<boolean> {
    const problem = checkRoom(room);
    if (problem) {
      this.host.alert(problem, `create:${room}`);
      return false;
    }
    if (this.host.hasView(room)) {
      this.host.alert(`You are already in #${room}.`, `create:${room}`);
      return false;
    }
    const before = this.host.currentView()?.name;
    const created = this.session.createRoom(room, { visibility, topic });
    this.host.ensureView(room);
    this.host.show(room);
    try {
      await created;
      this.host.clearAlert(`create:${room}`);
      return true;
    } catch (err) {
      this.host.alert(`Could not create #${room}: ${why(err)}`, `create:${room}`);
      if (!this.session.roomNames.includes(room)) {
        this.host.drop(room);
        // Back to the room that was on screen before.
        if (before !== undefined && this.host.hasView(before) && this.host.currentView()?.name !== before) this.host.show(before);
      }
      return false;
    }
  }

  /** Open (or find) the direct-message room with a user and show it. */
  async openDirect(userId: string): Promise<boolean> {
    try {
      const room = await this.session.openDirect(userId);
      if (this.host.hasView(room)) this.host.show(room);
      else {
        this.host.join(room);
        this.host.refreshMyRooms();
      }
      this.host.settle();
      return true;
    } catch (err) {
      this.host.alert(`Could not open a conversation with ${userId}: ${why(err)}`, `dm:${userId}`);
      return false;
    }
  }

  /** Ask before deleting a message (it cannot be undone); the room's delete entry then turns it into a tombstone on every page. */
  async deleteMessage(room: string, seq: bigint, whose: string): Promise<void> {
    const view = this.host.currentView();
    if (!view || view.name !== room) return;
    const details = await this.dialog.ask(`Delete ${whose} message in ${view.title}? This cannot be undone.`, "Delete", { reason: false, duration: false });
    if (!details) return;
    const done = this.session.deleteMessage(room, seq);
    if (!done.ok) this.host.alert(`Could not delete the message: ${done.reason}`);
  }

  /** Ask for a new topic and set it; the room's entry for it updates every page (ours too). */
  async setTopic(): Promise<void> {
    const view = this.host.currentView();
    if (!view) return;
    const details = await this.dialog.ask(`Topic of ${view.title}`, "Set topic", {
      reason: false,
      duration: false,
      text: { label: "Topic (empty clears it)", value: this.session.roomState(view.name)?.topic ?? "" },
    });
    if (!details) return;
    try {
      await this.session.moderate(view.name, { kind: RoomActionKind.SET_TOPIC, topic: details.reason });
    } catch (err) {
      this.host.alert(`Could not set the topic of ${view.title}: ${why(err)}`);
    }
  }

  /** Offer the room's read receipts settings (the current one chosen) and set the one picked; the room's entry for it turns "seen by" on or off on every page. */
  async setReadReceipts(): Promise<void> {
    const view = this.host.currentView();
    if (!view) return;
    const current = this.session.roomState(view.name)?.readReceipts ?? ReadReceiptsSetting.UNSPECIFIED;
    const details = await this.dialog.ask(`Read receipts in ${view.title}`, "Save", {
      reason: false,
      duration: false,
      choice: { label: "Members see who has read how far", options: RECEIPT_CHOICES.map(([value, label]) => ({ value: String(value), label })), value: String(current) },
    });
    if (!details) return;
    const setting = Number(details.choice) as ReadReceiptsSetting;
    if (setting === current) return;
    try {
      await this.session.moderate(view.name, { kind: RoomActionKind.SET_READ_RECEIPTS, readReceipts: setting });
    } catch (err) {
      this.host.alert(`Could not set the read receipts of ${view.title}: ${why(err)}`);
    }
  }

  /** Ask for a new nickname and take it in every room; a refusal (taken in one of them, or not acceptable) is said at the top by the chat screen. */
  async changeNickname(): Promise<void> {
    const now = this.session.nickname;
    const details = await this.dialog.ask("Change your nickname", "Change", { reason: false, duration: false, text: { label: "New nickname (in every room)", value: now } });
    if (!details || details.reason === "" || details.reason === now) return;
    const done = this.session.changeNickname(details.reason);
    if (!done.ok) this.host.alert(`Could not change your nickname: ${done.reason}`);
  }

  /** Ask for a user id and make them a member: a private room then lets them in (they find it in their rooms). */
  async invite(): Promise<void> {
    const view = this.host.currentView();
    if (!view) return;
    const details = await this.dialog.ask(`Invite to ${view.title}`, "Invite", { reason: false, duration: false, text: { label: "User id", value: "" } });
    if (!details || details.reason === "") return;
    try {
      await this.session.moderate(view.name, { kind: RoomActionKind.INVITE, targetUser: details.reason });
    } catch (err) {
      this.host.alert(`Could not invite ${details.reason}: ${why(err)}`);
    }
  }

  /** Ask for a user id (the latest ban seen is offered first) and lift their ban; the room's entry for it says it worked. */
  async unban(): Promise<void> {
    const view = this.host.currentView();
    if (!view) return;
    const seen = [...view.banned].reverse();
    const details = await this.dialog.ask(`Unban from ${view.title}`, "Unban", {
      reason: false,
      duration: false,
      text: { label: "User id", value: seen[0] ?? "", suggestions: seen },
    });
    if (!details || details.reason === "") return;
    try {
      await this.session.moderate(view.name, { kind: RoomActionKind.UNBAN, targetUser: details.reason });
    } catch (err) {
      this.host.alert(`Could not unban ${details.reason}: ${why(err)}`);
    }
  }

  /** A member menu's item was chosen: ask what it needs, then send it; a refusal shows the server's words. */
  async memberCommand(nickname: string, command: MemberCommand): Promise<void> {
    const view = this.host.currentView();
    const member = view?.members.get(nickname);
    if (!view || !member) return;
    if (command === "message") return void (await this.openDirect(member.userId));
    if (command === "rename") return this.changeNickname();
    const target = member.userId;
    let action: RoomActionInit;
    const until = (seconds: number) => (seconds > 0 ? { until: { seconds: BigInt(Math.floor(Date.now() / 1000) + seconds), nanos: 0 } } : {});
    switch (command) {
      case "kick":
      case "ban":
      case "mute": {
        const labels = { kick: ["Kick", "from"], ban: ["Ban", "from"], mute: ["Mute", "in"] } as const;
        const [verb, prep] = labels[command];
        const details = await this.dialog.ask(`${verb} ${nickname} ${prep} ${view.title}`, verb, { reason: true, duration: command !== "kick" });
        if (!details) return;
        const kind = command === "kick" ? RoomActionKind.KICK : command === "ban" ? RoomActionKind.BAN : RoomActionKind.MUTE;
        action = { kind, targetUser: target, reason: details.reason, ...until(details.durationS) };
        break;
      }
      case "unmute":
        action = { kind: RoomActionKind.UNMUTE, targetUser: target };
        break;
      default: {
        const role = command === "make-owner" ? RoomRole.OWNER : command === "make-moderator" ? RoomRole.MODERATOR : RoomRole.MEMBER;
        action = { kind: RoomActionKind.SET_ROLE, targetUser: target, role };
      }
    }
    try {
      await this.session.moderate(view.name, action);
    } catch (err) {
      const what = command.startsWith("make-") ? `make ${nickname} ${command.slice(5)}` : `${command} ${nickname}`;
      this.host.alert(`Could not ${what}: ${why(err)}`);
    }
  }
}

/** The settings as offered, the server's default first. */
const RECEIPT_CHOICES: [ReadReceiptsSetting, string][] = [
  [ReadReceiptsSetting.UNSPECIFIED, "Default: on while the room is small"],
  [ReadReceiptsSetting.ON, "On, however big the room"],
  [ReadReceiptsSetting.OFF, "Off"],
];

const why = (err: unknown) => (err instanceof RoomCommandError ? err.message : describeError(err, location.origin));
