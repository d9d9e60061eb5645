/**
 * Mentions: a send may name user ids (SendCommand.mentions). They are stored
 * with the message; once it is stored, each mentioned user who may see the
 * room (not the sender) is told on every open session, here and, through the
 * node bus the server wires to MentionNotify, on every other node, so a
 * mention reaches a user whatever room their client shows.
 */
import type { MentionNotice } from "../log/node-bus.js";
import { maySee, type RoomStateData } from "../rooms/room-state.js";
import * as events from "../wire/events.js";
import { invalid } from "./command-error.js";

export type { MentionNotice };

/** Mentions per message: a bound on the notices one send can cause. */
export const MAX_MENTIONS = 20;
/** A user id is at most this long (the token subject's bound). */
const USER_ID_MAX_CHARS = 256;
/** Characters of the message's text a mention carries. */
const QUOTE_MAX_CHARS = 100;

export type MentionNotify = (notice: MentionNotice) => void;

export const mentionNotifyNobody: MentionNotify = () => {};

/** The mentions of a SendCommand, checked; throws an INVALID_ARGUMENT CommandError. */
export function checkMentions(mentions: readonly string[]): readonly string[] {
  if (mentions.length > MAX_MENTIONS) throw invalid(`at most ${MAX_MENTIONS} mentions per message (got ${mentions.length})`);
  const seen = new Set<string>();
  for (const user of mentions) {
    if (user === "" || [...user].length > USER_ID_MAX_CHARS) throw invalid(`a mention must be a user id of 1 to ${USER_ID_MAX_CHARS} characters`);
    if (seen.has(user)) throw invalid(`user "${user}" is mentioned twice`);
    seen.add(user);
  }
  return mentions;
}

/** The notice for a stored message: to the mentioned users who may see the room, never its sender; undefined when nobody is told. */
export function mentionNotice(
  message: { room: string; seq: number; sender: string; senderId: string; text: string; mentions: readonly string[] },
  state: RoomStateData | undefined,
  nowMs: number,
): MentionNotice | undefined {
  // A private room's stranger learns nothing of it, not even that someone named them there.
  const users = message.mentions.filter((u) => u !== message.senderId && maySee(state, u, undefined, nowMs));
  if (users.length === 0) return undefined;
  const quote = [...message.text].slice(0, QUOTE_MAX_CHARS).join("");
  return { room: message.room, seq: message.seq, sender: message.sender, senderId: message.senderId, quote, users };
}

export const mentionEventOf = (n: MentionNotice) => events.mentionEvent(n.room, n.seq, n.sender, n.senderId, n.quote);
