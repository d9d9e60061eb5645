/**
 * The session transports the client core runs over, for the one core test
 * suite (test/client-core.test.ts), and wrappers that let a test cut or
 * tamper with a connection whatever the transport underneath.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import type { ChatRequest, ServerEvent } from "../../gen/chat/v1/chat_pb.js";
import { commandTransport } from "../../src/client/command-transport.js";
import { createGrpcSessionTransport } from "../../src/client/grpc-transport.js";
import type { SessionConnection, SessionTransport } from "../../src/client/session-transport.js";
import { httpUrlFor } from "./server.js";

export interface TransportEntry {
  name: string;
  make(baseUrl: string): SessionTransport;
  /** Why the suite cannot run over it (undefined: it can). */
  skip?: string;
}

export async function sessionTransports(): Promise<TransportEntry[]> {
  return [
    // The terminal client's: the bidirectional Chat stream over native gRPC.
    { name: "Chat stream (gRPC)", make: (baseUrl) => createGrpcSessionTransport(baseUrl) },
    // The browser's shape, OpenSession + Command, over any Connect transport: here over gRPC on the
    // gRPC port, and as a browser does it, over the Connect protocol on HTTP/1.1 on the HTTP port
    // (connect-node's transport standing in for connect-web's; both speak the same protocol).
    { name: "OpenSession + Command (gRPC)", make: (baseUrl) => commandTransport(createGrpcTransport({ baseUrl })) },
    {
      name: "OpenSession + Command (Connect protocol, HTTP/1.1)",
      make: (baseUrl) => commandTransport(createConnectTransport({ baseUrl: httpUrlFor(baseUrl), httpVersion: "1.1", useBinaryFormat: true })),
    },
  ];
}

/** What `events` yields of a frame: the events to deliver, or "drop" to kill the connection as a reset would. */
export type FrameFilter = (connection: number, events: ServerEvent[]) => ServerEvent[] | "drop";

/**
 * A transport over another that records what each connection sent, can
 * refuse to connect (offline), and passes each frame through `filter`.
 */
export function tamper(inner: SessionTransport, filter: FrameFilter = (_c, events) => events) {
  const sent: ChatRequest[][] = [];
  const state = { offline: false };
  const transport: SessionTransport = {
    halfClose: inner.halfClose,
    open(signal: AbortSignal): SessionConnection {
      const index = sent.length;
      const requests: ChatRequest[] = [];
      sent.push(requests);
      if (state.offline) {
        return {
          events: (async function* (): AsyncGenerator<ServerEvent[]> {
            throw new ConnectError("connect ECONNREFUSED (offline, by the test)", Code.Unavailable);
          })(),
          send: () => {},
          finish: () => {},
        };
      }
      const cut = new AbortController();
      signal.addEventListener("abort", () => cut.abort(), { once: true });
      const link = inner.open(cut.signal);
      return {
        events: (async function* () {
          for await (const events of link.events) {
            const passed = filter(index, events);
            if (passed === "drop") {
              cut.abort();
              throw new ConnectError("connection reset (simulated)", Code.Unavailable);
            }
            if (passed.length > 0) yield passed;
          }
        })(),
        send(request) {
          requests.push(request);
          link.send(request);
        },
        finish: () => link.finish(),
      };
    },
  };
  const sendIds = (connection: number) => sent[connection].flatMap((r) => (r.command.case === "send" ? [r.command.value.clientMsgId] : []));
  const join = (connection: number) => sent[connection].find((r) => r.command.case === "join")?.command.value;
  return { transport, sent, state, sendIds, join };
}
