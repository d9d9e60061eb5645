/**
 * A test participant on OpenSession + Command, over any Connect transport
 * (Connect or gRPC-Web on the HTTP port, gRPC on either port): records every
 * event of its session stream, and sends each command as a Command call,
 * keeping the call's answer.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { ChatRequestSchema, ChatService, type ServerEvent } from "../../gen/chat/v1/chat_pb.js";
import type { StreamEnd } from "./chat-tester.js";
import { waitUntil } from "./wait.js";

type Init = Parameters<typeof create<typeof ChatRequestSchema>>[1];
type EventOf<C extends ServerEvent["event"]["case"]> = Extract<ServerEvent["event"], { case: C }>["value"];

export type TransportKind = "connect" | "grpc-web" | "grpc";

const open = new Set<SessionTester>();

/** Cancel every session tester still open (call from afterEach). */
export function closeSessionTesters(): void {
  for (const t of open) t.cancel();
  open.clear();
}

export function transportFor(kind: TransportKind, baseUrl: string, options: { httpVersion?: "1.1" | "2"; token?: string } = {}): Transport {
  const interceptors: Interceptor[] = [];
  if (options.token) {
    const authorization = `Bearer ${options.token}`;
    interceptors.push((next) => (req) => {
      req.header.set("authorization", authorization);
      return next(req);
    });
  }
  if (kind === "grpc") return createGrpcTransport({ baseUrl, interceptors });
  const make = kind === "connect" ? createConnectTransport : createGrpcWebTransport;
  return make({ baseUrl, httpVersion: options.httpVersion ?? "1.1", useBinaryFormat: true, interceptors });
}

export class SessionTester {
  readonly events: ServerEvent[] = [];
  readonly client: Client<typeof ChatService>;
  private readonly abort = new AbortController();
  private endResult: StreamEnd | undefined;
  readonly done: Promise<StreamEnd>;
  private nextId = 1;
  private paused = false;

  constructor(
    readonly name: string,
    transport: Transport,
  ) {
    open.add(this);
    const client = createClient(ChatService, transport);
    this.client = client;
    this.done = (async () => {
      try {
        for await (const frame of client.openSession({}, { signal: this.abort.signal })) {
          this.events.push(...frame.events);
          // A paused tester stops pulling: the stream's flow control pushes back on the server.
          if (this.paused) await new Promise<void>((resolve) => this.abort.signal.addEventListener("abort", () => resolve(), { once: true }));
        }
        this.endResult = { code: "ok", message: "" };
      } catch (err) {
        const e = ConnectError.from(err);
        this.endResult = { code: e.code, message: e.rawMessage };
      }
      return this.endResult;
    })();
  }

  get ended(): StreamEnd | undefined {
    return this.endResult;
  }

  /** The session id, from the first event. */
  async sessionId(): Promise<string> {
    const first = await waitUntil<ServerEvent | StreamEnd>(() => this.events[0] ?? this.endResult, `${this.name}: the session event`);
    if (!("event" in first)) throw new Error(`${this.name}: session stream ended before its first event: ${first.code} ${first.message}`);
    if (first.event.case !== "session") throw new Error(`${this.name}: first event is ${first.event.case}, not session`);
    return first.event.value.sessionId;
  }

  /** Send one command; resolves with the answering event (undefined for typing), or rejects with the call's error. */
  async command(init: Init, sessionId?: string): Promise<ServerEvent | undefined> {
    const id = sessionId ?? (await this.sessionId());
    const res = await this.client.command({ sessionId: id, request: create(ChatRequestSchema, init) });
    return res.event;
  }

  join(room: string, nickname = this.name, extra: { afterSeq?: bigint; epoch?: string } = {}) {
    return this.command({ command: { case: "join", value: { room, nickname, ...extra } } });
  }

  send(room: string, text: string, clientMsgId = `${this.name}-${this.nextId++}`) {
    return this.command({ command: { case: "send", value: { room, text, clientMsgId } } });
  }

  cancel(): void {
    this.abort.abort();
  }

  /** Stop reading the session stream (as a stalled browser tab would), until cancelled. */
  pause(): void {
    this.paused = true;
  }

  of<C extends ServerEvent["event"]["case"]>(kind: C): EventOf<C>[] {
    return this.events.filter((e) => e.event.case === kind).map((e) => e.event.value as EventOf<C>);
  }

  async waitFor<C extends ServerEvent["event"]["case"]>(kind: C, match: (e: EventOf<C>) => boolean = () => true, timeoutMs = 5000): Promise<EventOf<C>> {
    const found: unknown = await waitUntil<unknown>(() => this.of(kind).find(match) as unknown, `${this.name}: ${kind} event`, timeoutMs);
    return found as EventOf<C>;
  }

  async waitForEnd(timeoutMs = 5000): Promise<StreamEnd> {
    return waitUntil(() => this.endResult, `${this.name}: the session stream to end`, timeoutMs);
  }
}

/** The error a promise rejects with, as a ConnectError (fails if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}

export { Code };
