/**
 * The HTTP port: the ChatService over the Connect protocol, gRPC-Web and
 * gRPC (connect-node, from the routes module), and the web client's page.
 * This file only chooses the adapter and the listener, and puts the
 * per-request concerns in order: CORS, the bidi-over-HTTP/1.1 refusal, the
 * RPCs, the page.
 */
import type * as http from "node:http";
import type * as http2 from "node:http2";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { ConnectRouter } from "@connectrpc/connect";
import type { Logger } from "pino";
import { ChatService } from "../../gen/chat/v1/chat_pb.js";
import { corsPolicy } from "./cors.js";
import { refuseBidiOverHttp1 } from "./http1-bidi-refusal.js";
import { listenHttp, type HttpListener, type RequestHandler } from "./http-listener.js";
import { streamControlValues } from "./stream-control.js";
import { loadWebAssets, type WebAssets } from "./web-assets.js";

/**
 * The header the web client sends with every Command, naming its session, so
 * that a load balancer can route the call to the node that holds it (the
 * session id starts with that node's id; see the README, "Browser sessions across nodes").
 */
export const SESSION_HEADER = "chat-session-id";

export interface GatewayOptions {
  host: string;
  port: number;
  routes: (router: ConnectRouter) => void;
  maxConnections: number;
  maxStreamsPerConnection: number;
  maxRequestBytes: number;
  idleTimeoutMs: number;
  keepaliveMs: number;
  corsOrigins: string[];
  tls?: { cert: Buffer; key: Buffer };
  log: Logger;
  /** The built page; by default dist/web of this package. Null: serve no page. */
  web?: WebAssets | null;
}

export interface Gateway extends HttpListener {
  /** Whether the page is served (it was built). */
  servesPage: boolean;
}

const BIDI_CHAT_PATH = `/${ChatService.typeName}/Chat`;

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const web = options.web === undefined ? loadWebAssets() : (options.web ?? undefined);
  const cors = corsPolicy(options.corsOrigins, ["authorization", SESSION_HEADER]);
  const rpc = connectNodeAdapter({
    routes: options.routes,
    readMaxBytes: options.maxRequestBytes,
    contextValues: streamControlValues,
    fallback: (req, nodeRes) => {
      // connect-node's response type narrows write(); the page only uses writeHead and end.
      const res = nodeRes as http.ServerResponse | http2.Http2ServerResponse;
      if (web?.serve(req, res)) return;
      const notBuilt = !web && (req.url === "/" || req.url === "/index.html");
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      res.end(notBuilt ? "the web client is not built: run `npm run build`\n" : "not found\n");
    },
  });
  const handler: RequestHandler = (req, res) => {
    if (cors?.apply(req, res)) return;
    if (req.httpVersionMajor === 1 && (req.url ?? "").split("?", 1)[0] === BIDI_CHAT_PATH) {
      return refuseBidiOverHttp1(req as Parameters<typeof refuseBidiOverHttp1>[0], res as Parameters<typeof refuseBidiOverHttp1>[1]);
    }
    rpc(req, res);
  };
  const listener = await listenHttp({ ...options, handler });
  return { ...listener, servesPage: web !== undefined };
}
