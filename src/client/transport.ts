/** The generated Connect client over native gRPC (HTTP/2), as the CLI and tests use it. */
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ChatService } from "../../gen/chat/v1/chat_pb.js";

export type ChatClient = Client<typeof ChatService>;

export function createChatClient(baseUrl: string): ChatClient {
  return createClient(ChatService, createGrpcTransport({ baseUrl }));
}
