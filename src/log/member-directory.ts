/**
 * Who is in which room, in process memory: the embedded log's presence.
 * Nicknames are unique per room by their confusable skeleton; members are
 * listed in join order. Pages continue after the join number of the last
 * member listed, so members leaving between pages never shift the listing.
 */
import { InvalidPageTokenError, type ClaimOutcome, type MemberPage, type MemberRecord } from "./room-log.js";

interface Entry {
  member: MemberRecord;
  /** Join number within the room: the page token's unit. */
  order: number;
}

interface RoomMembers {
  bySkeleton: Map<string, Entry>;
  nextOrder: number;
}

export class MemberDirectory {
  private readonly byRoom = new Map<string, RoomMembers>();

  claim(room: string, member: MemberRecord, maxMembers: number): ClaimOutcome {
    let members = this.byRoom.get(room);
    const holder = members?.bySkeleton.get(member.skeleton);
    if (holder) return { kind: "taken", holder: holder.member.nickname };
    if ((members?.bySkeleton.size ?? 0) >= maxMembers) return { kind: "full", limit: maxMembers };
    if (!members) this.byRoom.set(room, (members = { bySkeleton: new Map(), nextOrder: 1 }));
    members.bySkeleton.set(member.skeleton, { member, order: members.nextOrder++ });
    return { kind: "claimed", memberCount: members.bySkeleton.size };
  }

  /** Remove the member if it is the one holding its skeleton; returns the new count, or undefined if it was not there. */
  release(room: string, member: MemberRecord): number | undefined {
    const members = this.byRoom.get(room);
    const entry = members?.bySkeleton.get(member.skeleton);
    if (!members || !entry || entry.member.nickname !== member.nickname || entry.member.joinedAtMs !== member.joinedAtMs) return undefined;
    members.bySkeleton.delete(member.skeleton);
    if (members.bySkeleton.size === 0) this.byRoom.delete(room);
    return members.bySkeleton.size;
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
