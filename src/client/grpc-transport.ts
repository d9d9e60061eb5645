/**
 * The session transport of Node clients (the terminal client): the Chat
 * stream over native gRPC. Node-only (HTTP/2 through connect-node); browsers
 * use command-transport.ts over connect-web instead.
 *
 * Several servers ("http://a:50051,http://b:50051", or a list) give a
 * failover transport: each connection goes to one of them, the next one after
 * a failure. A host name that resolves to several addresses is tried address
 * by address by Node itself when connecting (net.connect's autoSelectFamily,
 * the default since Node 20), so a name in front of several nodes fails over
 * too.
 */
import { chatStreamTransport } from "./chat-stream-transport.js";
import { failoverTransport, type FailoverTransport } from "./failover.js";
import { createChatConnection, type ChatClient, type ChatClientOptions } from "./transport.js";

export interface GrpcSessionTransport extends FailoverTransport {
  /** The client of the server the session uses (or will use next), for the unary calls (ListRooms, ListMembers, GetHistory). */
  readonly client: ChatClient;
}

/** `servers`: one base URL, several separated by commas, or a list. */
export function createGrpcSessionTransport(servers: string | string[], options: ChatClientOptions = {}): GrpcSessionTransport {
  const list = typeof servers === "string" ? splitServers(servers) : servers;
  const endpoints = list.map((server) => {
    const { client, abandon } = createChatConnection(server, options);
    return { server, client, transport: { ...chatStreamTransport(client), abandon } };
  });
  const failover = failoverTransport(endpoints);
  return {
    halfClose: failover.halfClose,
    serverCount: failover.serverCount,
    abandon: () => failover.abandon?.(),
    get server() {
      return failover.server;
    },
    get client() {
      return endpoints.find((e) => e.server === failover.server)!.client;
    },
    open: (signal) => failover.open(signal),
  };
}

/** "a, b,c" → ["a", "b", "c"]. */
export function splitServers(servers: string): string[] {
  return servers
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}
