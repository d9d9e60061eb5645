/**
 * The client core in a browser: it bundles for the browser platform with
 * nothing from Node, runs in a scope that has only what browsers have, and
 * its OpenSession + Command transport keeps the contract the session relies
 * on, checked here against an in-memory Connect router (test/client-core.test.ts
 * runs the whole suite over it against the real server, over gRPC and over
 * the Connect protocol on the HTTP port).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { runInNewContext } from "node:vm";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";
import { ChatRequestSchema, ChatService, HeartbeatEventSchema, type ChatRequest, type ServerEvent } from "../gen/chat/v1/chat_pb.js";
import { commandTransport } from "../src/client/command-transport.js";
import { waitUntil } from "./support/wait.js";

const root = fileURLToPath(new URL("..", import.meta.url));

describe("the client core in a browser", () => {
  it("bundles for browsers without Node built-ins, and runs where only browser globals exist", async () => {
    const result = await build({
      entryPoints: [`${root}src/client/index.ts`],
      bundle: true,
      platform: "browser",
      format: "iife",
      globalName: "chatClient",
      write: false,
      metafile: true,
      logLevel: "silent",
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((f) => f.startsWith("node:") || /connect-node|grpc-js/.test(f))).toEqual([]);
    // Our own modules in the bundle name nothing of Node's, even where a run would not reach.
    const ours = inputs.filter((f) => f.startsWith("src/"));
    expect(ours).toContain("src/hub/validate.ts");
    expect(ours).not.toContain("src/hub/nickname.ts");
    const code = (file: string) => readFileSync(`${root}${file}`, "utf8").replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "");
    for (const file of ours) expect(code(file), file).not.toMatch(/\bBuffer\b|\bprocess\.|\bNodeJS\b|from "node:/);

    // A scope with browser globals only: no process, Buffer, require or global.
    const scope: Record<string, unknown> = {
      TextEncoder,
      TextDecoder,
      crypto: globalThis.crypto,
      setTimeout,
      clearTimeout,
      setInterval,
      clearInterval,
      AbortController,
      AbortSignal,
      Headers,
      URL,
      console,
    };
    runInNewContext(result.outputFiles[0].text, scope);
    const lib = scope.chatClient as typeof import("../src/client/index.js");
    // A transport whose server is unreachable: the session fails fast, saying why.
    const unreachable = {
      halfClose: false,
      open: () => ({
        events: (async function* (): AsyncGenerator<ServerEvent[]> {
          throw new lib.ConnectError("connect ECONNREFUSED", lib.Code.Unavailable);
        })(),
        send: () => {},
        finish: () => {},
      }),
    };
    const session = new lib.ChatSession({ transport: unreachable, server: "https://chat.example", nickname: "ann" });
    expect(session.join("bad room!")).toEqual({ ok: false, reason: "room name may contain only letters, digits, '.', '_' and '-'" });
    expect(session.join("lobby")).toEqual({ ok: true });
    expect(session.send("lobby", "é".repeat(2049))).toMatchObject({ ok: false, reason: expect.stringContaining("at most 4096 bytes") });
    expect(session.send("lobby", "queued")).toMatchObject({ ok: true, id: expect.stringMatching(/^ann-[0-9a-f]{12}-1$/) });
    expect(await session.start()).toEqual({ ok: false, message: "server https://chat.example unavailable: connect ECONNREFUSED" });
  });
});

/** An in-memory OpenSession + Command service: answers each command with a heartbeat naming it, on the stream too. */
function fakeSessions(options: { failOn?: string; firstEvent?: ServerEvent["event"] } = {}) {
  const commands: { sessionId: string; request: ChatRequest; header: string | null }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let cancelled = false;
  const pushes: ((e: ServerEvent["event"]) => void)[] = [];
  const transport = createRouterTransport(({ service }) => {
    service(ChatService, {
      async *openSession(_req, ctx) {
        yield { events: [{ event: options.firstEvent ?? { case: "session", value: { sessionId: "s-1" } } }] };
        const queue: ServerEvent["event"][] = [];
        let wake: (() => void) | undefined;
        pushes.push((e) => {
          queue.push(e);
          wake?.();
        });
        ctx.signal.addEventListener("abort", () => {
          cancelled = true;
          wake?.();
        });
        while (!ctx.signal.aborted) {
          if (queue.length === 0) await new Promise<void>((r) => (wake = r));
          if (queue.length > 0) yield { events: queue.splice(0).map((event) => ({ event })) };
        }
      },
      async command(req, ctx) {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        commands.push({ sessionId: req.sessionId, request: req.request!, header: ctx.requestHeader.get("chat-session-id") });
        await new Promise((r) => setTimeout(r, 5 * Math.random()));
        inFlight--;
        const nonce = req.request?.command.case === "ping" ? req.request.command.value.nonce : "";
        if (nonce === options.failOn) throw new ConnectError("session s-1 not found", Code.NotFound);
        const event: ServerEvent["event"] = { case: "heartbeat", value: create(HeartbeatEventSchema, { nonce }) };
        for (const push of pushes) push(event);
        return { event: { event } };
      },
    });
  });
  return { transport, commands, state: () => ({ maxInFlight, cancelled }) };
}

const ping = (nonce: string) => create(ChatRequestSchema, { command: { case: "ping", value: { nonce } } });

async function collect(events: AsyncIterable<ServerEvent[]>, into: string[]): Promise<unknown> {
  try {
    for await (const frame of events) for (const e of frame) into.push(e.event.case === "heartbeat" ? e.event.value.nonce : String(e.event.case));
    return "ended";
  } catch (err) {
    return err;
  }
}

describe("OpenSession + Command transport", () => {
  it("sends commands one at a time, in order, naming the session; finish lets them out, then ends cleanly", async () => {
    const fake = fakeSessions();
    const conn = commandTransport(fake.transport).open(new AbortController().signal);
    const seen: string[] = [];
    const ended = collect(conn.events, seen);
    for (let i = 1; i <= 8; i++) conn.send(ping(`p${i}`));
    conn.finish();
    conn.send(ping("after finish")); // ignored
    expect(await ended).toBe("ended");
    expect(fake.commands.map((c) => [c.sessionId, c.request.command.value && "nonce" in c.request.command.value ? c.request.command.value.nonce : ""])).toEqual(
      Array.from({ length: 8 }, (_, i) => ["s-1", `p${i + 1}`]),
    );
    expect(fake.state().maxInFlight).toBe(1);
    // The SessionEvent is the transport's own business; the session sees only the events after it.
    await waitUntil(() => fake.state().cancelled, "the stream to be cancelled");
    expect(seen.every((n) => /^p\d$/.test(n))).toBe(true);
  });

  it("a failed Command breaks the connection: events throws that failure, so the session reconnects", async () => {
    const fake = fakeSessions({ failOn: "p2" });
    const conn = commandTransport(fake.transport).open(new AbortController().signal);
    const ended = collect(conn.events, []);
    conn.send(ping("p1"));
    conn.send(ping("p2"));
    conn.send(ping("p3"));
    const err = ConnectError.from(await ended);
    expect([err.code, err.rawMessage]).toEqual([Code.NotFound, "session s-1 not found"]);
    expect(fake.commands.map((c) => (c.request.command.case === "ping" ? c.request.command.value.nonce : ""))).toEqual(["p1", "p2"]);
  });

  it("names the session in a header on every Command (for load balancers), and pings when nothing else went out (the server's lease)", async () => {
    const fake = fakeSessions();
    const stop = new AbortController();
    const conn = commandTransport(fake.transport, { keepaliveMs: 30 }).open(stop.signal);
    const seen: string[] = [];
    const ended = collect(conn.events, seen);
    conn.send(ping("p1"));
    await waitUntil(() => seen.filter((n) => n === "session-keepalive").length >= 2, "keepalive pings");
    expect(fake.commands.map((c) => c.header)).toEqual(fake.commands.map(() => "s-1"));
    stop.abort();
    await ended;
  });

  it("a stream that does not start with a SessionEvent is refused", async () => {
    const fake = fakeSessions({ firstEvent: { case: "heartbeat", value: create(HeartbeatEventSchema) } });
    const conn = commandTransport(fake.transport).open(new AbortController().signal);
    const err = ConnectError.from(await collect(conn.events, []));
    expect(err.rawMessage).toBe("the server did not start the session with its id");
  });
});
