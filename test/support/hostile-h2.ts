/**
 * A gRPC client written directly on node:http2 over a TCP socket the test
 * owns, for inputs no well-behaved client library would send: hand-made
 * length prefixes, streams ended inside a message, connections dropped with
 * a FIN or a TCP reset and no HTTP/2 goodbye.
 */
import * as http2 from "node:http2";
import * as net from "node:net";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  ChatRequestSchema,
  ChatResponseSchema,
  type ChatRequest,
  type ServerEvent,
} from "../../gen/chat/v1/chat_pb.js";
import { waitUntil } from "./wait.js";

export const CHAT_PATH = "/chat.v1.ChatService/Chat";

type Init = Parameters<typeof create<typeof ChatRequestSchema>>[1];
type EventOf<C extends ServerEvent["event"]["case"]> = Extract<ServerEvent["event"], { case: C }>["value"];

/** A gRPC length-prefixed message: flag byte, 4-byte big-endian length, payload. */
export function grpcFrame(payload: Uint8Array, opts: { compressed?: boolean; declaredLength?: number } = {}): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(opts.compressed ? 1 : 0, 0);
  header.writeUInt32BE(opts.declaredLength ?? payload.byteLength, 1);
  return Buffer.concat([header, payload]);
}

export function chatRequestFrame(init: Init): Buffer {
  return grpcFrame(toBinary(ChatRequestSchema, create(ChatRequestSchema, init)));
}

export interface GrpcStatus {
  code: number;
  message: string;
}

/** One gRPC call on a RawH2Connection: raw writes in, decoded ChatResponse events and the status out. */
export class RawGrpcStream {
  readonly events: ServerEvent[] = [];
  status: GrpcStatus | undefined;
  /** The HTTP/2 stream is closed (by either side). */
  closed = false;
  rstCode: number | undefined;
  error: Error | undefined;
  private pending = Buffer.alloc(0);

  constructor(readonly req: http2.ClientHttp2Stream) {
    req.on("response", (headers) => this.takeStatus(headers));
    req.on("trailers", (trailers) => this.takeStatus(trailers));
    req.on("data", (chunk: Buffer) => this.decode(chunk));
    req.on("error", (err) => (this.error = err));
    req.on("close", () => {
      this.closed = true;
      this.rstCode = req.rstCode;
    });
  }

  private takeStatus(headers: http2.IncomingHttpHeaders): void {
    const code = headers["grpc-status"];
    if (code === undefined) return;
    this.status = { code: Number(code), message: decodeURIComponent(String(headers["grpc-message"] ?? "")) };
  }

  private decode(chunk: Buffer): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 5) {
      const length = this.pending.readUInt32BE(1);
      if (this.pending.length < 5 + length) return;
      const response = fromBinary(ChatResponseSchema, this.pending.subarray(5, 5 + length));
      this.events.push(...response.events);
      this.pending = this.pending.subarray(5 + length);
    }
  }

  write(bytes: Uint8Array): void {
    this.req.write(bytes);
  }

  /** Stop reading: the stream's HTTP/2 window fills up and the server's writes back up. */
  pause(): void {
    this.req.pause();
  }

  /** Read again (what arrived meanwhile is decoded). */
  resume(): void {
    this.req.resume();
  }

  request(init: Init): void {
    this.write(chatRequestFrame(init));
  }

  join(room: string, nickname: string): void {
    this.request({ command: { case: "join", value: { room, nickname } } });
  }

  send(room: string, text: string, clientMsgId: string): void {
    this.request({ command: { case: "send", value: { room, text, clientMsgId } } });
  }

  /** Half-close (END_STREAM), optionally with a last chunk of bytes. */
  end(bytes?: Uint8Array): void {
    if (bytes) this.req.end(bytes);
    else this.req.end();
  }

  /** RST_STREAM(CANCEL). */
  cancel(): void {
    this.req.close(http2.constants.NGHTTP2_CANCEL);
  }

  of<C extends ServerEvent["event"]["case"]>(kind: C): EventOf<C>[] {
    return this.events.filter((e) => e.event.case === kind).map((e) => e.event.value as EventOf<C>);
  }

  async waitFor<C extends ServerEvent["event"]["case"]>(kind: C, match: (e: EventOf<C>) => boolean = () => true, timeoutMs = 15_000): Promise<EventOf<C>> {
    const found: unknown = await waitUntil<unknown>(() => this.of(kind).find(match) as unknown, `raw stream: ${kind} event`, timeoutMs);
    return found as EventOf<C>;
  }

  /** The call's gRPC status, from the trailers (or a trailers-only response). */
  async waitStatus(timeoutMs = 15_000): Promise<GrpcStatus> {
    const got = await waitUntil(() => this.status ?? (this.closed ? "closed" : undefined), "grpc-status", timeoutMs);
    if (got === "closed") {
      throw new Error(`stream closed without a grpc-status (RST_STREAM code ${this.rstCode}, error ${this.error?.message ?? "none"})`);
    }
    return got;
  }
}

/** An HTTP/2 connection over a TCP socket the test holds, so it can drop it however it likes. */
export class RawH2Connection {
  /** The socket is closed (by either side). */
  socketClosed = false;
  sessionError: Error | undefined;
  private readonly socketGone: Promise<void>;

  private constructor(
    readonly socket: net.Socket,
    readonly session: http2.ClientHttp2Session,
  ) {
    this.socketGone = new Promise((resolve) =>
      socket.once("close", () => {
        this.socketClosed = true;
        resolve();
      }),
    );
    socket.on("error", () => {});
    session.on("error", (err) => (this.sessionError = err));
  }

  static async open(port: number, timeoutMs = 15_000): Promise<RawH2Connection> {
    const socket = net.connect({ host: "127.0.0.1", port, noDelay: true });
    const session = http2.connect(`http://127.0.0.1:${port}`, { createConnection: () => socket });
    const conn = new RawH2Connection(socket, session);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("HTTP/2 connect timed out")), timeoutMs);
      session.once("connect", () => {
        clearTimeout(timer);
        resolve();
      });
      session.once("close", () => {
        clearTimeout(timer);
        reject(new Error(`HTTP/2 session closed before connecting: ${conn.sessionError?.message ?? "no error"}`));
      });
    });
    return conn;
  }

  stream(path = CHAT_PATH, headers: http2.OutgoingHttpHeaders = {}): RawGrpcStream {
    return new RawGrpcStream(
      this.session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...headers }),
    );
  }

  /** GOAWAY, then close once the open streams are done (or at once with none). */
  async close(timeoutMs = 15_000): Promise<void> {
    this.session.close();
    await this.closed(timeoutMs);
  }

  /** Destroy the session with streams still open (GOAWAY if it can, then the socket). */
  async destroySession(timeoutMs = 15_000): Promise<void> {
    this.session.destroy();
    await this.closed(timeoutMs);
  }

  /** Close the TCP socket with a FIN and no HTTP/2 goodbye at all. */
  async dropSocket(timeoutMs = 15_000): Promise<void> {
    this.socket.destroy();
    await this.closed(timeoutMs);
  }

  /** Abort the TCP connection with a RST. */
  async resetSocket(timeoutMs = 15_000): Promise<void> {
    this.socket.resetAndDestroy();
    await this.closed(timeoutMs);
  }

  async closed(timeoutMs = 15_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.socketGone,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("socket did not close")), timeoutMs))),
    ]).finally(() => clearTimeout(timer));
    // The session follows its socket; wait for it too, so nothing is left referencing it.
    if (!this.session.closed && !this.session.destroyed) this.session.destroy();
  }
}
