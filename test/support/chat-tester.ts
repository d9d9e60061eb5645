/**
 * A test participant on the generated Connect client (over gRPC): sends
 * commands, records every event it receives, and waits for the ones a test
 * expects.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  ChatRequestSchema,
  type ChatMessage,
  type ChatRequest,
  type ErrorEvent,
  type JoinedEvent,
  type ServerEvent,
} from "../../gen/chat/v1/chat_pb.js";
import { RequestQueue } from "../../src/client/request-queue.js";
import { createChatClient, type ChatClient, type ChatClientOptions } from "../../src/client/transport.js";
import { waitUntil } from "./wait.js";

type Init = Parameters<typeof create<typeof ChatRequestSchema>>[1];
type EventOf<C extends ServerEvent["event"]["case"]> = Extract<ServerEvent["event"], { case: C }>["value"];

export interface StreamEnd {
  code: Code | "ok";
  message: string;
}

/** Every tester still open; closed by closeTesters() between tests. */
const open = new Set<ChatTester>();

export function closeTesters(): void {
  for (const t of open) t.cancel();
  open.clear();
}

export class ChatTester {
  readonly events: ServerEvent[] = [];
  readonly frames: number[] = [];
  private readonly requests = new RequestQueue<ChatRequest>();
  private endResult: StreamEnd | undefined;
  readonly done: Promise<StreamEnd>;
  private nextId = 1;

  constructor(
    readonly name: string,
    client: ChatClient,
    readonly abort = new AbortController(),
  ) {
    open.add(this);
    this.done = (async () => {
      try {
        for await (const frame of client.chat(this.requests, { signal: abort.signal })) {
          this.frames.push(frame.events.length);
          this.events.push(...frame.events);
        }
        this.endResult = { code: "ok", message: "" };
      } catch (err) {
        const e = ConnectError.from(err);
        this.endResult = { code: e.code, message: e.rawMessage };
      }
      return this.endResult;
    })();
  }

  static connect(baseUrl: string, name = "tester", options: ChatClientOptions = {}): ChatTester {
    return new ChatTester(name, createChatClient(baseUrl, options));
  }

  get ended(): StreamEnd | undefined {
    return this.endResult;
  }

  request(init: Init): void {
    this.requests.push(create(ChatRequestSchema, init));
  }

  join(room: string, nickname = this.name, extra: { afterSeq?: bigint; epoch?: string; resumeToken?: string } = {}): void {
    this.request({ command: { case: "join", value: { room, nickname, ...extra } } });
  }

  rename(room: string, nickname: string): void {
    this.request({ command: { case: "rename", value: { room, nickname } } });
  }

  leave(room: string): void {
    this.request({ command: { case: "leave", value: { room } } });
  }

  send(room: string, text: string, clientMsgId = `${this.name}-${this.nextId++}`): string {
    this.request({ command: { case: "send", value: { room, text, clientMsgId } } });
    return clientMsgId;
  }

  /** Half-close: no more requests. */
  end(): void {
    this.requests.end();
  }

  cancel(): void {
    this.abort.abort();
  }

  of<C extends ServerEvent["event"]["case"]>(kind: C): EventOf<C>[] {
    return this.events.filter((e) => e.event.case === kind).map((e) => e.event.value as EventOf<C>);
  }

  messages(room?: string): ChatMessage[] {
    return this.of("message").filter((m) => room === undefined || m.room === room);
  }

  async waitFor<C extends ServerEvent["event"]["case"]>(
    kind: C,
    match: (e: EventOf<C>) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<EventOf<C>> {
    const found: unknown = await waitUntil<unknown>(() => this.of(kind).find(match) as unknown, `${this.name}: ${kind} event`, timeoutMs);
    return found as EventOf<C>;
  }

  async joined(room: string): Promise<JoinedEvent> {
    return this.waitFor("joined", (j) => j.room === room);
  }

  async error(match: (e: ErrorEvent) => boolean = () => true): Promise<ErrorEvent> {
    return this.waitFor("error", match);
  }

  async messageCount(count: number, room?: string, timeoutMs = 5000): Promise<ChatMessage[]> {
    await waitUntil(
      () => {
        if (this.messages(room).length >= count) return true;
        // Fail at once, with the reason, when no more can come.
        if (this.endResult) throw new Error(`${this.name}: stream ended (${this.endResult.code}: ${this.endResult.message}) after ${this.messages(room).length} of ${count} messages`);
        return false;
      },
      `${this.name}: ${count} messages`,
      timeoutMs,
    );
    return this.messages(room);
  }
}
