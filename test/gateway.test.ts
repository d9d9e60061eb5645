/**
 * The HTTP port as its users meet it: curl with JSON, Connect and gRPC-Web
 * clients, HTTP/1.1 and h2c on one port, HTTPS with the gRPC port's
 * certificate, and the same limits and CORS rules a deployment relies on.
 */
import * as http2 from "node:http2";
import * as https from "node:https";
import * as net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ChatTester } from "./support/chat-tester.js";
import { makeCert } from "./support/certs.js";
import { startTestServer, stopTestServers } from "./support/server.js";
import { Code, closeSessionTesters, rejection, SessionTester, transportFor } from "./support/session-tester.js";
import { createClient } from "@connectrpc/connect";
import { ChatService } from "../gen/chat/v1/chat_pb.js";
import { RequestQueue } from "../src/client/request-queue.js";

afterEach(async () => {
  closeSessionTesters();
  await stopTestServers();
});

/** What `curl -s -H 'content-type: application/json' -d BODY URL/chat.v1.ChatService/METHOD` gets. */
async function postJson(base: string, method: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}/chat.v1.ChatService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any>, headers: res.headers };
}

describe("unary calls with JSON over HTTP/1.1 (what curl does)", () => {
  it("ListRooms, ListMembers and GetHistory answer in protobuf JSON", async () => {
    const server = await startTestServer();
    const alice = ChatTester.connect(server.baseUrl, "alice");
    alice.join("lobby");
    await alice.joined("lobby");
    alice.send("lobby", "first");
    await alice.messageCount(1, "lobby");

    expect(await postJson(server.httpUrl, "ListRooms", {})).toMatchObject({ status: 200, body: { rooms: [{ name: "lobby", memberCount: 1, lastSeq: "1" }] } });
    const members = await postJson(server.httpUrl, "ListMembers", { room: "lobby" });
    expect(members.body).toMatchObject({ members: [{ nickname: "alice" }], memberCount: 1 });
    const history = await postJson(server.httpUrl, "GetHistory", { room: "lobby", limit: 10 });
    expect(history.body.messages).toEqual([expect.objectContaining({ room: "lobby", seq: "1", sender: "alice", text: "first" })]);
  });

  it("bad input is one clear error, no stack trace", async () => {
    const server = await startTestServer();
    const bad = await postJson(server.httpUrl, "GetHistory", { room: "no spaces", limit: 10 });
    expect(bad).toMatchObject({ status: 400, body: { code: "invalid_argument", message: "room name may contain only letters, digits, '.', '_' and '-'" } });
    const tooMany = await postJson(server.httpUrl, "GetHistory", { room: "lobby", limit: 501 });
    expect(tooMany.body).toEqual({ code: "invalid_argument", message: "limit must be at most 500" });
  });

  it("a request larger than --max-request-bytes is refused", async () => {
    const server = await startTestServer({ maxRequestBytes: 8192 });
    const big = await postJson(server.httpUrl, "GetHistory", { room: "x".repeat(10_000) });
    expect(big.body.code).toBe("resource_exhausted");
  });

  it("with authentication on, a call without a token is UNAUTHENTICATED", async () => {
    const server = await startTestServer({ authSecret: "a-development-secret-of-at-least-32-bytes!" });
    expect(await postJson(server.httpUrl, "ListRooms", {})).toMatchObject({
      status: 401,
      body: { code: "unauthenticated", message: "missing bearer token: send 'authorization: Bearer <jwt>' metadata" },
    });
  });
});

describe("the bidirectional Chat on the HTTP port", () => {
  it("works over h2c for a Connect client that can stream both ways", async () => {
    const server = await startTestServer();
    const client = createClient(ChatService, transportFor("connect", server.httpUrl, { httpVersion: "2" }));
    const requests = new RequestQueue<Parameters<typeof client.chat>[0] extends AsyncIterable<infer R> ? R : never>();
    requests.push({ command: { case: "join", value: { room: "lobby", nickname: "h2c" } } } as never);
    requests.push({ command: { case: "send", value: { room: "lobby", text: "over h2c", clientMsgId: "c1" } } } as never);
    requests.end();
    const kinds: string[] = [];
    for await (const frame of client.chat(requests)) for (const e of frame.events) kinds.push(e.event.case ?? "");
    expect(kinds).toEqual(["joined", "message"]);
  });

  it.each(["connect", "grpc-web"] as const)("over HTTP/1.1 a %s client gets UNIMPLEMENTED, saying what to use instead", async (kind) => {
    const server = await startTestServer();
    const client = createClient(ChatService, transportFor(kind, server.httpUrl, { httpVersion: "1.1" }));
    const requests = new RequestQueue<never>();
    requests.end();
    const err = await rejection((async () => {
      for await (const _ of client.chat(requests)) void _;
    })());
    expect(err.code).toBe(Code.Unimplemented);
    expect(err.rawMessage).toBe("Chat streams requests and responses at once, which needs HTTP/2 (h2c or HTTPS); over HTTP/1.1 use OpenSession and Command");
  });
});

describe("limits and CORS on the HTTP port", () => {
  it("past --max-connections a client gets a one-line 503", async () => {
    const server = await startTestServer({ maxConnections: 1 });
    const first = net.connect(server.httpPort!, "127.0.0.1");
    await new Promise((resolve) => first.once("connect", resolve));
    const res = await fetch(`${server.httpUrl}/`).then(async (r) => ({ status: r.status, text: await r.text() }));
    first.destroy();
    expect(res).toEqual({ status: 503, text: "server is at its limit of 1 connections; retry later\n" });
  });

  it("no CORS headers unless origins are configured", async () => {
    const server = await startTestServer();
    const res = await postJson(server.httpUrl, "ListRooms", {}, { origin: "https://elsewhere.example" });
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("a configured origin gets the Connect and gRPC-Web headers allowed and exposed; another is refused", async () => {
    const server = await startTestServer({ corsOrigins: "https://chat.example.com, https://other.example" });
    const preflight = await fetch(`${server.httpUrl}/chat.v1.ChatService/Command`, {
      method: "OPTIONS",
      headers: { origin: "https://chat.example.com", "access-control-request-method": "POST", "access-control-request-headers": "content-type,connect-protocol-version" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("https://chat.example.com");
    const allowed = preflight.headers.get("access-control-allow-headers")!.split(", ");
    for (const h of ["Content-Type", "Connect-Protocol-Version", "X-Grpc-Web", "authorization", "chat-session-id"]) expect(allowed).toContain(h);

    const actual = await postJson(server.httpUrl, "ListRooms", {}, { origin: "https://chat.example.com" });
    expect(actual.headers.get("access-control-allow-origin")).toBe("https://chat.example.com");
    expect(actual.headers.get("access-control-expose-headers")).toContain("Grpc-Status");

    const refused = await fetch(`${server.httpUrl}/chat.v1.ChatService/ListRooms`, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
    });
    expect(refused.status).toBe(403);
    expect(refused.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("HTTPS on the HTTP port with --tls-cert", () => {
  it("serves HTTP/1.1 and HTTP/2 over TLS, with the gRPC port's certificate", async () => {
    const cert = makeCert();
    const server = await startTestServer({ tlsCert: cert.certFile, tlsKey: cert.keyFile });
    expect(server.httpUrl.startsWith("https://")).toBe(true);
    const h1 = await new Promise<{ status?: number; version: string; body: string }>((resolve, reject) => {
      const req = https.request(`${server.httpUrl}/chat.v1.ChatService/ListRooms`, { method: "POST", ca: cert.cert, headers: { "content-type": "application/json" } }, (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (d: string) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode, version: res.httpVersion, body }));
      });
      req.on("error", reject);
      req.end("{}");
    });
    expect(h1).toEqual({ status: 200, version: "1.1", body: "{}" });

    const session = http2.connect(server.httpUrl, { ca: cert.cert });
    const stream = session.request({ ":method": "POST", ":path": "/chat.v1.ChatService/ListRooms", "content-type": "application/json" });
    stream.end("{}");
    let body = "";
    stream.setEncoding("utf8").on("data", (d: string) => (body += d));
    await new Promise((resolve) => stream.once("end", resolve));
    session.close();
    expect(body).toBe("{}");
  });

  it("a session over gRPC-Web on HTTPS works like any other", async () => {
    const cert = makeCert();
    const server = await startTestServer({ tlsCert: cert.certFile, tlsKey: cert.keyFile });
    // connect-node's transports take Node's TLS options for the CA.
    const { createGrpcWebTransport } = await import("@connectrpc/connect-node");
    const web = new SessionTester("web", createGrpcWebTransport({ baseUrl: server.httpUrl, httpVersion: "2", nodeOptions: { ca: cert.cert } }));
    expect((await web.join("lobby"))?.event.case).toBe("joined");
  });
});
