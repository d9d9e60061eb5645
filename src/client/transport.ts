/** The generated Connect client over native gRPC (HTTP/2), as the CLI and tests use it. */
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ChatService } from "../../gen/chat/v1/chat_pb.js";

export type ChatClient = Client<typeof ChatService>;

export interface ChatClientOptions {
  /** Bearer token (JWT) sent with every call. */
  token?: string;
  /** PEM CA certificate(s) to trust for an https:// server, besides the system store. */
  ca?: string | Buffer;
}

export function createChatClient(baseUrl: string, options: ChatClientOptions = {}): ChatClient {
  const interceptors: Interceptor[] = [];
  if (options.token) {
    const authorization = `Bearer ${options.token}`;
    interceptors.push((next) => (req) => {
      req.header.set("authorization", authorization);
      return next(req);
    });
  }
  return createClient(
    ChatService,
    createGrpcTransport({
      baseUrl,
      interceptors,
      nodeOptions: options.ca ? { ca: options.ca } : undefined,
    }),
  );
}
