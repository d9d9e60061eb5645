/**
 * Who is in which room, in process memory: the embedded log's presence.
 * Nicknames are unique per room by their confusable skeleton; members are
 * listed in join order. Pages continue after the join number of the last
 * member listed, so members leaving between pages never shift the listing.
 * A shared membership (a signed-in user's) is held by several sessions, told
 * apart by their token hashes, and found by its user id whatever its nickname.
 */
import { InvalidPageTokenError, type ClaimOutcome, type MemberPage, type MemberRecord, type RenameOutcome } from "./room-log.js";

interface Entry {
  member: MemberRecord;
  /** Join number within the room: the page token's unit. */
  order: number;
  /** A shared membership's sessions, by token hash. */
  holders?: Set<string>;
}

interface RoomMembers {
  bySkeleton: Map<string, Entry>;
  /** Shared memberships' skeletons by user id. */
  byUser: Map<string, string>;
  nextOrder: number;
}

/** What a release did: the member left (the count after it), or only one of its sessions went. */
export type ReleaseResult = { left: true; nickname: string; memberCount: number } | { left: false };

export class MemberDirectory {
  private readonly byRoom = new Map<string, RoomMembers>();

  /**
   * Take the member's skeleton. With `resumeTokenHash`, a holder under the
   * same nickname whose token hashes to it is taken over: the new record
   * replaces it in its place, keeping its join time. Returns the outcome and,
   * for a takeover, the token hash of the record replaced.
   */
  claim(room: string, member: MemberRecord, maxMembers: number, resumeTokenHash?: string): ClaimOutcome & { oldTokenHash?: string } {
    let members = this.byRoom.get(room);
    const mine = members && this.sharedEntry(members, member);
    if (mine) {
      mine.holders!.add(member.tokenHash ?? "");
      const { nickname, skeleton, joinedAtMs } = mine.member;
      return { kind: "claimed", memberCount: members!.bySkeleton.size, joinedAs: { nickname, skeleton, joinedAtMs } };
    }
    const holder = members?.bySkeleton.get(member.skeleton);
    if (members && holder) {
      const old = holder.member;
      if (!resumeTokenHash || !old.tokenHash || old.tokenHash !== resumeTokenHash || old.nickname !== member.nickname) {
        return { kind: "taken", holder: old.nickname };
      }
      // Stored copies: the records are handed out (member pages) and cached by identity, never changed in place.
      holder.member = { ...member, joinedAtMs: old.joinedAtMs };
      return { kind: "claimed", memberCount: members.bySkeleton.size, replaced: { joinedAtMs: old.joinedAtMs }, oldTokenHash: old.tokenHash };
    }
    if ((members?.bySkeleton.size ?? 0) >= maxMembers) return { kind: "full", limit: maxMembers };
    if (!members) this.byRoom.set(room, (members = { bySkeleton: new Map(), byUser: new Map(), nextOrder: 1 }));
    const entry: Entry = { member: { ...member }, order: members.nextOrder++ };
    if (isShared(member)) {
      entry.holders = new Set([member.tokenHash ?? ""]);
      members.byUser.set(member.userId!, member.skeleton);
    }
    members.bySkeleton.set(member.skeleton, entry);
    return { kind: "claimed", memberCount: members.bySkeleton.size };
  }

  /**
   * Remove the member if it is the one holding its skeleton (a shared one:
   * this session of it, and the member once no session holds it).
   */
  release(room: string, member: MemberRecord): ReleaseResult | undefined {
    const members = this.byRoom.get(room);
    const entry = members && this.entryOf(members, member);
    if (!members || !entry) return undefined;
    if (entry.holders) {
      entry.holders.delete(member.tokenHash ?? "");
      if (entry.holders.size > 0) return { left: false };
      members.byUser.delete(entry.member.userId!);
    }
    members.bySkeleton.delete(entry.member.skeleton);
    if (members.bySkeleton.size === 0) this.byRoom.delete(room);
    return { left: true, nickname: entry.member.nickname, memberCount: members.bySkeleton.size };
  }

  /** Give the member another nickname and skeleton in its place (join order kept). */
  rename(room: string, member: MemberRecord, next: { nickname: string; skeleton: string }): RenameOutcome & { from?: string } {
    const members = this.byRoom.get(room);
    const entry = members && this.entryOf(members, member);
    if (!members || !entry) return { kind: "gone" };
    const other = members.bySkeleton.get(next.skeleton);
    if (other && other !== entry) return { kind: "taken", holder: other.member.nickname };
    const from = entry.member;
    entry.member = { ...entry.member, nickname: next.nickname, skeleton: next.skeleton };
    if (entry.holders) members.byUser.set(from.userId!, next.skeleton);
    if (next.skeleton !== from.skeleton) {
      // Map order is the listing order: rebuild it so the renamed member keeps its place.
      const entries = [...members.bySkeleton.values()];
      members.bySkeleton.clear();
      for (const e of entries) members.bySkeleton.set(e.member.skeleton, e);
    }
    return { kind: "renamed", memberCount: members.bySkeleton.size, from: from.nickname };
  }

  /** The user's shared membership, if this claim may share it. */
  private sharedEntry(members: RoomMembers, member: MemberRecord): Entry | undefined {
    if (!isShared(member)) return undefined;
    const skeleton = members.byUser.get(member.userId!);
    return skeleton === undefined ? undefined : members.bySkeleton.get(skeleton);
  }

  /** The membership this record (as its session knows it) holds, if it still does. */
  private entryOf(members: RoomMembers, member: MemberRecord): Entry | undefined {
    // Shared: found by user (another session may have renamed it), held by this session's token.
    const shared = this.sharedEntry(members, member);
    if (shared) return shared.holders!.has(member.tokenHash ?? "") ? shared : undefined;
    const entry = members.bySkeleton.get(member.skeleton);
    return entry && !entry.holders && sameMembership(entry.member, member) ? entry : undefined;
  }

  /** Forget every member of the room at once (the room was deleted; the hub ends their sessions). */
  drop(room: string): void {
    this.byRoom.delete(room);
  }

  count(room: string): number {
    return this.byRoom.get(room)?.bySkeleton.size ?? 0;
  }

  page(room: string, pageToken: string, pageSize: number): MemberPage {
    if (pageToken !== "" && !/^\d{1,15}$/.test(pageToken)) throw new InvalidPageTokenError();
    const after = pageToken === "" ? 0 : Number(pageToken);
    const members = this.byRoom.get(room);
    if (!members) return { members: [], memberCount: 0, nextPageToken: "" };
    const page: Entry[] = [];
    let more = false;
    // Map order is insertion (join) order, so orders increase along it.
    for (const entry of members.bySkeleton.values()) {
      if (entry.order <= after) continue;
      if (page.length === pageSize) {
        more = true;
        break;
      }
      page.push(entry);
    }
    return {
      members: page.map((e) => e.member),
      memberCount: members.bySkeleton.size,
      nextPageToken: more ? String(page[page.length - 1].order) : "",
    };
  }

  /** Rooms with members, sorted by name. */
  rooms(limit: number): { name: string; memberCount: number }[] {
    return [...this.byRoom.entries()]
      .map(([name, m]) => ({ name, memberCount: m.bySkeleton.size }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .slice(0, limit);
  }
}

const isShared = (m: MemberRecord): boolean => m.shared === true && m.userId !== undefined;

/** The same membership (not merely the same nickname): a takeover or a later join of the name is another one. */
function sameMembership(held: MemberRecord, member: MemberRecord): boolean {
  return held.nickname === member.nickname && held.joinedAtMs === member.joinedAtMs && (held.tokenHash ?? "") === (member.tokenHash ?? "");
}
