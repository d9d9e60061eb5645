/** The unary RPCs a client uses to look around: rooms, members, history pages. */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { GetHistoryRequestSchema } from "../gen/chat/v1/chat_pb.js";
import { createChatClient } from "../src/client/transport.js";
import { ChatTester } from "./support/chat-tester.js";
import { startTestServer, stopTestServers } from "./support/server.js";

afterEach(stopTestServers);

describe("ListRooms and ListMembers", () => {
  it("list the rooms with members, sorted, with counts; and a room's members", async () => {
    const server = await startTestServer();
    const client = createChatClient(server.baseUrl);
    expect((await client.listRooms({})).rooms).toEqual([]);
    const a = ChatTester.connect(server.baseUrl, "a");
    const b = ChatTester.connect(server.baseUrl, "b");
    a.join("zeta");
    a.join("alpha");
    b.join("alpha");
    await a.joined("alpha");
    await b.joined("alpha");
    const id = a.send("alpha", "hi");
    await a.waitFor("message", (m) => m.clientMsgId === id);
    const rooms = (await client.listRooms({})).rooms.map((r) => [r.name, r.memberCount, Number(r.lastSeq)]);
    expect(rooms).toEqual([
      ["alpha", 2, 1],
      ["zeta", 1, 0],
    ]);
    expect((await client.listMembers({ room: "alpha" })).members.map((m) => m.nickname)).toEqual(["a", "b"]);
    expect((await client.listMembers({ room: "nobody-here" })).members).toEqual([]);
    // An emptied room disappears.
    a.leave("zeta");
    await a.waitFor("left");
    expect((await client.listRooms({})).rooms.map((r) => r.name)).toEqual(["alpha"]);
  });

  it("reject a bad room name with INVALID_ARGUMENT", async () => {
    const server = await startTestServer();
    const client = createChatClient(server.baseUrl);
    const err = await client.listMembers({ room: "no spaces" }).catch((e) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
  });
});

describe("GetHistory", () => {
  it("pages backwards and forwards through a room's messages", async () => {
    const server = await startTestServer();
    const client = createChatClient(server.baseUrl);
    const a = ChatTester.connect(server.baseUrl, "a");
    a.join("lobby");
    await a.joined("lobby");
    for (let i = 1; i <= 25; i++) a.send("lobby", `m${i}`);
    await a.messageCount(25);
    const texts = (r: { messages: { text: string }[] }) => r.messages.map((m) => m.text);

    const latest = await client.getHistory({ room: "lobby", limit: 10 });
    expect(texts(latest)).toEqual(Array.from({ length: 10 }, (_, i) => `m${16 + i}`));
    expect(latest.hasMore).toBe(true);
    expect([Number(latest.firstSeq), Number(latest.lastSeq)]).toEqual([1, 25]);
    expect(latest.epoch).toBe((await a.joined("lobby")).epoch);

    const older = await client.getHistory(create(GetHistoryRequestSchema, { room: "lobby", beforeSeq: 16n, limit: 10 }));
    expect(texts(older)).toEqual(Array.from({ length: 10 }, (_, i) => `m${6 + i}`));
    const oldest = await client.getHistory({ room: "lobby", beforeSeq: 6n, limit: 10 });
    expect(texts(oldest)).toEqual(["m1", "m2", "m3", "m4", "m5"]);
    expect(oldest.hasMore).toBe(false);

    const forward = await client.getHistory({ room: "lobby", afterSeq: 20n, limit: 3 });
    expect(texts(forward)).toEqual(["m21", "m22", "m23"]);
    expect(forward.hasMore).toBe(true);
    const end = await client.getHistory({ room: "lobby", afterSeq: 23n, limit: 10 });
    expect(texts(end)).toEqual(["m24", "m25"]);
    expect(end.hasMore).toBe(false);
  });

  it("defaults the page size, bounds it, and answers an unknown room with an empty page", async () => {
    const server = await startTestServer();
    const client = createChatClient(server.baseUrl);
    const a = ChatTester.connect(server.baseUrl, "a");
    a.join("lobby");
    await a.joined("lobby");
    for (let i = 0; i < 60; i++) a.send("lobby", `m${i}`);
    await a.messageCount(60);
    expect((await client.getHistory({ room: "lobby" })).messages).toHaveLength(50);
    const err = await client.getHistory({ room: "lobby", limit: 501 }).catch((e) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    const empty = await client.getHistory({ room: "never-used" });
    expect(empty.messages).toEqual([]);
    expect(empty.hasMore).toBe(false);
  });
});
