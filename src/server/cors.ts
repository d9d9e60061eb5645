/**
 * CORS for the HTTP port: off unless origins are configured (the page is
 * served from the same origin and needs none). Allowed and exposed headers
 * are the ones connect-es lists for the Connect and gRPC-Web protocols, plus
 * this service's own (the bearer token, the session routing header).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { cors } from "@connectrpc/connect";

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

/** Preflight answers are cached by browsers for this long (seconds). */
const MAX_AGE_SEC = 7200;

export interface CorsPolicy {
  /** Add the CORS headers a request from an allowed origin needs; true when it was a preflight, now answered. */
  apply(req: Request, res: Response): boolean;
}

/** Undefined when no origin is allowed. `*` allows any origin. */
export function corsPolicy(origins: string[], extraHeaders: string[]): CorsPolicy | undefined {
  if (origins.length === 0) return undefined;
  const any = origins.includes("*");
  const allowed = new Set(origins.map((o) => o.replace(/\/+$/, "").toLowerCase()));
  const allowHeaders = [...cors.allowedHeaders, ...extraHeaders].join(", ");
  const exposeHeaders = cors.exposedHeaders.join(", ");
  const allowMethods = cors.allowedMethods.join(", ");
  return {
    apply(req, res) {
      const origin = req.headers.origin;
      if (typeof origin !== "string") return false;
      const ok = any || allowed.has(origin.toLowerCase());
      const preflight = req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined;
      res.setHeader("vary", "Origin");
      if (!ok) {
        if (!preflight) return false;
        res.writeHead(403, { "content-type": "text/plain; charset=utf-8" });
        res.end(`origin ${origin} is not allowed (see --cors-origins)\n`);
        return true;
      }
      res.setHeader("access-control-allow-origin", origin);
      if (!preflight) {
        res.setHeader("access-control-expose-headers", exposeHeaders);
        return false;
      }
      res.writeHead(204, {
        "access-control-allow-methods": allowMethods,
        "access-control-allow-headers": allowHeaders,
        "access-control-max-age": String(MAX_AGE_SEC),
      });
      res.end();
      return true;
    },
  };
}
