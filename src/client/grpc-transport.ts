/**
 * The session transport of Node clients (the terminal client): the Chat
 * stream over native gRPC. Node-only (HTTP/2 through connect-node); browsers
 * use command-transport.ts over connect-web instead.
 */
import { chatStreamTransport } from "./chat-stream-transport.js";
import type { SessionTransport } from "./session-transport.js";
import { createChatClient, type ChatClient, type ChatClientOptions } from "./transport.js";

export interface GrpcSessionTransport extends SessionTransport {
  /** The same connection's client, for the unary calls (ListRooms, ListMembers, GetHistory). */
  readonly client: ChatClient;
}

export function createGrpcSessionTransport(baseUrl: string, options: ChatClientOptions = {}): GrpcSessionTransport {
  const client = createChatClient(baseUrl, options);
  return { ...chatStreamTransport(client), client };
}
