/**
 * Who a member is, across connections and names: a client that reconnects
 * with its previous membership's resume token takes that membership over at
 * once (no "taken" refusal, no leave and join shown to others), while a
 * wrong or someone else's token changes nothing; and a member changes
 * nickname in place (others see a rename), or is refused and keeps its name.
 */
import { SignJWT } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { CommandKind, ErrorCode, LeaveReason } from "../gen/chat/v1/chat_pb.js";
import { ChatTester } from "./support/chat-tester.js";
import { startTestServer, stopTestServers } from "./support/server.js";
import { waitUntil } from "./support/wait.js";

afterEach(stopTestServers);

/** Presence events a tester saw about `nickname` (joins and leaves). */
const presenceOf = (t: ChatTester, nickname: string) => [
  ...t.of("memberJoined").filter((e) => e.member?.nickname === nickname),
  ...t.of("memberLeft").filter((e) => e.nickname === nickname),
];

describe("resume token", () => {
  it("lets a reconnecting client take its stale membership over at once; the others see no leave and no join", async () => {
    const server = await startTestServer();
    const bob = ChatTester.connect(server.baseUrl, "bob");
    bob.join("lobby");
    await bob.joined("lobby");
    // The old stream stays open, as a connection whose loss the server has not noticed yet.
    const old = ChatTester.connect(server.baseUrl, "ann");
    old.join("lobby");
    const first = await old.joined("lobby");
    expect(first.resumeToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(first.replaced).toBe(false);
    await bob.waitFor("memberJoined", (e) => e.member?.nickname === "ann");

    const back = ChatTester.connect(server.baseUrl, "ann");
    back.join("lobby", "ann", { afterSeq: first.lastSeq, epoch: first.epoch, resumeToken: first.resumeToken });
    const again = await back.joined("lobby");
    expect(again.replaced).toBe(true);
    expect(again.resumeToken).not.toBe(first.resumeToken);
    expect(again.memberCount).toBe(2);
    // The old stream is told, and is out of the room.
    const left = await old.waitFor("left");
    expect(left).toMatchObject({ room: "lobby", reason: LeaveReason.REPLACED });
    old.send("lobby", "from the old stream");
    expect((await old.error()).code).toBe(ErrorCode.NOT_FOUND);
    // The new one speaks as ann; bob saw the one join of long ago and nothing since.
    back.send("lobby", "I'm back");
    const m = (await bob.messageCount(1))[0];
    expect([m.sender, m.text]).toEqual(["ann", "I'm back"]);
    expect(presenceOf(bob, "ann")).toHaveLength(1);
    // The old stream ending later does not take the new membership with it.
    old.cancel();
    await old.done;
    bob.send("lobby", "still there?");
    await back.messageCount(2);
    expect(presenceOf(bob, "ann")).toHaveLength(1);
    expect(server.hub.strayMembers()).toEqual([]);
  });

  it("refuses a wrong token, another member's token, and the right token for a look-alike nickname, as taken", async () => {
    const server = await startTestServer();
    const ann = ChatTester.connect(server.baseUrl, "ann");
    ann.join("lobby");
    const annJoined = await ann.joined("lobby");
    const bob = ChatTester.connect(server.baseUrl, "bob");
    bob.join("lobby");
    const bobJoined = await bob.joined("lobby");
    const mallory = ChatTester.connect(server.baseUrl, "mallory");
    const attempts = [
      { nickname: "ann", resumeToken: "A".repeat(43) },
      { nickname: "ann", resumeToken: bobJoined.resumeToken },
      { nickname: "ANN", resumeToken: annJoined.resumeToken },
    ];
    for (const [i, attempt] of attempts.entries()) {
      mallory.join("lobby", attempt.nickname, { resumeToken: attempt.resumeToken });
      await waitUntil(() => mallory.of("error").length === i + 1, `refusal ${i + 1}`);
    }
    expect(mallory.of("error").map((e) => [e.code, e.command])).toEqual(attempts.map(() => [ErrorCode.ALREADY_EXISTS, CommandKind.JOIN]));
    expect(ann.of("left")).toEqual([]);
    expect(mallory.of("joined")).toEqual([]);
    // A token longer than any the server issues is refused as malformed.
    mallory.join("lobby", "ann", { resumeToken: "x".repeat(65) });
    expect((await mallory.error((e) => e.code === ErrorCode.INVALID_ARGUMENT)).message).toMatch(/resume_token/);
  });
});

describe("rename", () => {
  it("changes the nickname in place: one rename event for the others, the answer for the renamer, messages under the new name", async () => {
    const server = await startTestServer();
    const ann = ChatTester.connect(server.baseUrl, "ann");
    ann.join("lobby");
    await ann.joined("lobby");
    const bob = ChatTester.connect(server.baseUrl, "bob");
    bob.join("lobby");
    await bob.joined("lobby");
    ann.rename("lobby", "alicia");
    expect(await ann.waitFor("memberRenamed")).toMatchObject({ room: "lobby", oldNickname: "ann", newNickname: "alicia" });
    expect(await bob.waitFor("memberRenamed")).toMatchObject({ room: "lobby", oldNickname: "ann", newNickname: "alicia" });
    ann.send("lobby", "hi");
    expect((await bob.messageCount(1))[0].sender).toBe("alicia");
    expect(presenceOf(bob, "ann")).toEqual([]);
    expect(presenceOf(bob, "alicia")).toEqual([]);
    const page = await server.hub.listMembers("lobby", "", 10);
    expect(page.members.map((m) => m.nickname)).toEqual(["alicia", "bob"]);
    // The old name is free again, the new one is held.
    const cy = ChatTester.connect(server.baseUrl, "cy");
    cy.join("lobby", "Alicia");
    expect((await cy.error()).code).toBe(ErrorCode.ALREADY_EXISTS);
    cy.join("lobby", "ann");
    await cy.joined("lobby");
    // Leaving releases the new name.
    ann.leave("lobby");
    await bob.waitFor("memberLeft", (e) => e.nickname === "alicia");
  });

  it("refuses a taken, look-alike or invalid nickname: the member keeps its name and its room, and nobody is told", async () => {
    const server = await startTestServer();
    const ann = ChatTester.connect(server.baseUrl, "ann");
    ann.join("lobby");
    await ann.joined("lobby");
    const bob = ChatTester.connect(server.baseUrl, "bob");
    bob.join("lobby");
    await bob.joined("lobby");
    for (const [i, name] of ["bob", "BOB", "b\u043Eb", "al\u200Bice", ""].entries()) {
      ann.rename("lobby", name);
      await waitUntil(() => ann.of("error").length === i + 1, `refusal of ${JSON.stringify(name)}`);
    }
    expect(ann.of("error").map((e) => [e.code, e.command, e.room])).toEqual([
      [ErrorCode.ALREADY_EXISTS, CommandKind.RENAME, "lobby"],
      [ErrorCode.ALREADY_EXISTS, CommandKind.RENAME, "lobby"],
      [ErrorCode.ALREADY_EXISTS, CommandKind.RENAME, "lobby"],
      [ErrorCode.INVALID_ARGUMENT, CommandKind.RENAME, "lobby"],
      [ErrorCode.INVALID_ARGUMENT, CommandKind.RENAME, "lobby"],
    ]);
    ann.send("lobby", "still ann");
    expect((await bob.messageCount(1))[0].sender).toBe("ann");
    expect(bob.of("memberRenamed")).toEqual([]);
    expect(presenceOf(bob, "ann")).toHaveLength(0);
    // Renaming a room not joined is refused too.
    ann.rename("elsewhere", "zed");
    expect((await ann.error((e) => e.room === "elsewhere")).code).toBe(ErrorCode.NOT_FOUND);
  });

  it("in a large room (presence digests) a rename is still one event, at once", async () => {
    const server = await startTestServer({ presenceThreshold: 1 });
    const [ann, bob, cy] = ["ann", "bob", "cy"].map((name) => ChatTester.connect(server.baseUrl, name));
    for (const t of [ann, bob, cy]) {
      t.join("lobby");
      await t.joined("lobby");
    }
    ann.rename("lobby", "alicia");
    for (const t of [bob, cy]) expect(await t.waitFor("memberRenamed")).toMatchObject({ oldNickname: "ann", newNickname: "alicia" });
  });

  it("a signed-in member renames its display name; its user id stays its token's subject", async () => {
    const secret = "a-development-secret-of-at-least-32-bytes!";
    const server = await startTestServer({ authSecret: secret });
    const jwt = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("ann").setExpirationTime("1h").sign(new TextEncoder().encode(secret));
    const ann = ChatTester.connect(server.baseUrl, "ann", { token: jwt });
    ann.join("lobby", "");
    await ann.joined("lobby");
    ann.rename("lobby", "Annabel");
    await ann.waitFor("memberRenamed", (e) => e.newNickname === "Annabel");
    const page = await server.hub.listMembers("lobby", "", 10);
    expect(page.members).toMatchObject([{ nickname: "Annabel", userId: "ann" }]);
  });
});
