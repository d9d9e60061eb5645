/**
 * Authentication: with a secret or public key configured, every call needs a
 * valid bearer token, and the token's subject is its holder's user id, which
 * every message carries whatever display name it chose.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { SignJWT, exportSPKI, generateKeyPair } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../gen/chat/v1/chat_pb.js";
import { createChatClient } from "../src/client/transport.js";
import { ChatTester } from "./support/chat-tester.js";
import { startTestServer, stopTestServers } from "./support/server.js";

afterEach(stopTestServers);

const secret = "a-development-secret-of-at-least-32-bytes!";
const hmac = new TextEncoder().encode(secret);

function token(sub: string, opts: { expiresIn?: string | number; key?: Uint8Array; claims?: Record<string, unknown> } = {}): Promise<string> {
  return new SignJWT(opts.claims ?? {})
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(opts.expiresIn ?? "1h")
    .sign(opts.key ?? hmac);
}

describe("with an HMAC secret", () => {
  it("a valid token speaks as its subject, under the display name it chose; nobody else can use its id", async () => {
    const server = await startTestServer({ authSecret: secret });
    const alice = ChatTester.connect(server.baseUrl, "alice", { token: await token("alice") });
    alice.join("lobby", "");
    expect(await alice.joined("lobby")).toMatchObject({ nickname: "alice", userId: "alice" });
    alice.join("other", "Queen of Hearts");
    expect(await alice.joined("other")).toMatchObject({ nickname: "Queen of Hearts", userId: "alice" });
    const id = alice.send("other", "it is really me");
    expect(await alice.waitFor("message", (m) => m.clientMsgId === id)).toMatchObject({ sender: "Queen of Hearts", senderId: "alice" });
    // Mallory may call herself alice; she is still mallory, and where alice is, the name is hers.
    const mallory = ChatTester.connect(server.baseUrl, "mallory", { token: await token("mallory") });
    mallory.join("lobby", "alice");
    expect((await mallory.error()).code).toBe(ErrorCode.ALREADY_EXISTS);
    mallory.join("other", "alice");
    expect(await mallory.joined("other")).toMatchObject({ nickname: "alice", userId: "mallory" });
    const forged = mallory.send("other", "it is me, alice");
    expect(await alice.waitFor("message", (m) => m.clientMsgId === forged)).toMatchObject({ sender: "alice", senderId: "mallory" });
  });

  it.each([
    ["no token", undefined, /missing bearer token/],
    ["an expired token", () => token("alice", { expiresIn: Math.floor(Date.now() / 1000) - 60 }), /token expired/],
    ["a token signed with another secret", () => token("alice", { key: new TextEncoder().encode("x".repeat(40)) }), /signature is not valid/],
    ["garbage", async () => "not.a.jwt", /malformed|not valid/],
  ])("refuses a stream with %s: UNAUTHENTICATED", async (_what, make, message) => {
    const server = await startTestServer({ authSecret: secret });
    const c = ChatTester.connect(server.baseUrl, "c", { token: make ? await make() : undefined });
    c.join("lobby");
    const end = await c.done;
    expect(end.code).toBe(Code.Unauthenticated);
    expect(end.message).toMatch(message);
    expect(server.hub.sessionCount).toBe(0);
  });

  it("refuses a token without an expiry by default, saying why", async () => {
    const server = await startTestServer({ authSecret: secret });
    const forever = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("alice").setIssuedAt().sign(hmac);
    const c = ChatTester.connect(server.baseUrl, "c", { token: forever });
    c.join("lobby");
    const end = await c.done;
    expect(end.code).toBe(Code.Unauthenticated);
    expect(end.message).toMatch(/token has no expiry \(exp\)/);
  });

  it("with --auth-max-token-age, accepts a token without an expiry and ends its stream when that age is reached", async () => {
    const server = await startTestServer({ authSecret: secret, authMaxTokenAge: 2 });
    const issued = Math.floor(Date.now() / 1000) - 1;
    const forever = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("alice").setIssuedAt(issued).sign(hmac);
    const c = ChatTester.connect(server.baseUrl, "alice", { token: forever });
    c.join("lobby", "");
    await c.joined("lobby");
    const end = await c.done;
    expect(end.code).toBe(Code.Unauthenticated);
    expect(end.message).toMatch(/token expired/);
    // Without an issued-at time there is no age to judge: refused.
    const noIat = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("alice").sign(hmac);
    const d = ChatTester.connect(server.baseUrl, "d", { token: noIat });
    d.join("lobby");
    const refused = await d.done;
    expect(refused.code).toBe(Code.Unauthenticated);
    expect(refused.message).toMatch(/iat/);
  });

  it("refuses unary calls without a valid token", async () => {
    const server = await startTestServer({ authSecret: secret });
    const err = await createChatClient(server.baseUrl).listRooms({}).catch((e) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.Unauthenticated);
    const ok = await createChatClient(server.baseUrl, { token: await token("bob") }).listRooms({});
    expect(ok.rooms).toEqual([]);
  });

  it("ends a stream when its token expires", async () => {
    const server = await startTestServer({ authSecret: secret });
    const c = ChatTester.connect(server.baseUrl, "c", { token: await token("brief", { expiresIn: Math.floor(Date.now() / 1000) + 2 }) });
    c.join("lobby", "");
    await c.joined("lobby");
    const end = await c.done;
    expect(end.code).toBe(Code.Unauthenticated);
    expect(end.message).toMatch(/token expired/);
  });

  it("takes any subject up to 256 characters as the user id; the display name comes from the join, else the name claim", async () => {
    const server = await startTestServer({ authSecret: secret });
    const uuid = "5f0c6a4e-8a7b-4c1e-9d2f-1b3a5c7e9f00-device-independent";
    const bare = ChatTester.connect(server.baseUrl, "bare", { token: await token(uuid) });
    bare.join("lobby", "");
    expect((await bare.error()).message).toMatch(/join with a nickname/);
    bare.join("lobby", "Zed");
    expect(await bare.joined("lobby")).toMatchObject({ nickname: "Zed", userId: uuid });
    const named = ChatTester.connect(server.baseUrl, "named", { token: await token(`${uuid}-2`, { claims: { name: "Yolanda" } }) });
    named.join("lobby", "");
    expect(await named.joined("lobby")).toMatchObject({ nickname: "Yolanda", userId: `${uuid}-2` });
    for (const [claims, message] of [
      [{}, /at most 256 characters/],
      [{ name: "\u0007bell" }, /name claim is not a usable nickname/],
    ] as const) {
      const sub = Object.keys(claims).length === 0 ? "x".repeat(257) : "ok-user";
      const c = ChatTester.connect(server.baseUrl, "c", { token: await token(sub, { claims }) });
      c.join("lobby");
      const end = await c.done;
      expect(end.code).toBe(Code.Unauthenticated);
      expect(end.message).toMatch(message);
    }
  });
});

describe.each(["ES256", "RS256", "EdDSA"])("with a %s public key file", (alg) => {
  it("accepts tokens signed by the matching private key, refuses others", async () => {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    const other = await generateKeyPair(alg);
    const dir = mkdtempSync(join(tmpdir(), "chat-auth-"));
    const file = join(dir, "public.pem");
    writeFileSync(file, await exportSPKI(publicKey));
    const server = await startTestServer({ authPublicKey: file });
    const sign = (key: Parameters<SignJWT["sign"]>[0]) =>
      new SignJWT({}).setProtectedHeader({ alg }).setSubject("carol").setExpirationTime("1h").sign(key);
    const good = ChatTester.connect(server.baseUrl, "carol", { token: await sign(privateKey) });
    good.join("lobby", "");
    expect((await good.joined("lobby")).nickname).toBe("carol");
    const bad = ChatTester.connect(server.baseUrl, "eve", { token: await sign(other.privateKey) });
    bad.join("lobby", "");
    expect((await bad.done).code).toBe(Code.Unauthenticated);
    // An HMAC token cannot pass as an asymmetric one.
    const confused = ChatTester.connect(server.baseUrl, "eve", { token: await token("carol") });
    confused.join("lobby", "");
    expect((await confused.done).code).toBe(Code.Unauthenticated);
  });
});
