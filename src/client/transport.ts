/** The generated Connect client over native gRPC (HTTP/2), as the CLI and tests use it. */
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import type { LookupFunction } from "node:net";
import { ChatService } from "../../gen/chat/v1/chat_pb.js";

export type ChatClient = Client<typeof ChatService>;

export interface ChatClientOptions {
  /** Bearer token (JWT) sent with every call. */
  token?: string;
  /** PEM CA certificate(s) to trust for an https:// server, besides the system store. */
  ca?: string | Buffer;
  /**
   * How host names are resolved (default: the system's, dns.lookup). Node tries every address a
   * name resolves to, in turn, when connecting: a name in front of several nodes fails over.
   */
  lookup?: LookupFunction;
}

export function createChatClient(baseUrl: string, options: ChatClientOptions = {}): ChatClient {
  return createChatConnection(baseUrl, options).client;
}

/**
 * A client and a way to drop its HTTP/2 connection. A connection whose path
 * went dead (a laptop asleep, a network switched, a NAT forgetting it) gives
 * no error, and without pings nothing would ever close it: a new call would
 * wait on it forever. `abandon` closes it; the next call opens a new one.
 */
export function createChatConnection(baseUrl: string, options: ChatClientOptions = {}): { client: ChatClient; abandon(): void } {
  const interceptors: Interceptor[] = [];
  if (options.token) {
    const authorization = `Bearer ${options.token}`;
    interceptors.push((next) => (req) => {
      req.header.set("authorization", authorization);
      return next(req);
    });
  }
  const sessionManager = new Http2SessionManager(baseUrl, {}, options.ca || options.lookup ? { ca: options.ca, lookup: options.lookup } : undefined);
  const client = createClient(ChatService, createGrpcTransport({ baseUrl, interceptors, sessionManager }));
  return { client, abandon: () => sessionManager.abort(new Error("the connection went silent")) };
}
