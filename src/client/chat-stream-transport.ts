/**
 * The session over the bidirectional Chat stream: each connection is one
 * Chat call; commands are the request stream, finish() half-closes it, and
 * the server then sends what it owes and ends the call with OK (which the
 * other members see as LEAVE_REASON_LEFT, not "disconnected").
 *
 * Needs a transport that can stream requests: connect-node's gRPC (or
 * Connect over HTTP/2) transport, not a browser's fetch.
 */
import type { Client } from "@connectrpc/connect";
import type { ChatRequest, ChatService, ServerEvent } from "../../gen/chat/v1/chat_pb.js";
import { RequestQueue } from "./request-queue.js";
import type { SessionConnection, SessionTransport } from "./session-transport.js";

export function chatStreamTransport(client: Client<typeof ChatService>): SessionTransport {
  return {
    halfClose: true,
    open(signal: AbortSignal): SessionConnection {
      const requests = new RequestQueue<ChatRequest>();
      const responses = client.chat(requests, { signal });
      return {
        events: (async function* (): AsyncGenerator<ServerEvent[]> {
          try {
            for await (const frame of responses) yield frame.events;
          } finally {
            if (!requests.isEnded) requests.end();
          }
        })(),
        send(request) {
          if (!requests.isEnded) requests.push(request);
        },
        finish() {
          if (!requests.isEnded) requests.end();
        },
      };
    },
  };
}
