/**
 * The bidi Chat over HTTP/1.1: it streams requests and responses at once,
 * which HTTP/1.1 (and every browser's fetch) cannot. connect-node answers it
 * with HTTP 505, which clients report as an unhelpful "HTTP 505"; instead we
 * answer in the caller's protocol with UNIMPLEMENTED and what to use instead.
 */
import type * as http from "node:http";

export const BIDI_OVER_HTTP1 =
  "Chat streams requests and responses at once, which needs HTTP/2 (h2c or HTTPS); over HTTP/1.1 use OpenSession and Command";

/** 12 is UNIMPLEMENTED in gRPC and gRPC-Web. */
const GRPC_UNIMPLEMENTED = "12";

export function refuseBidiOverHttp1(req: http.IncomingMessage, res: http.ServerResponse): void {
  const contentType = String(req.headers["content-type"] ?? "");
  // Nothing of the request is needed; read it away so the connection can be reused.
  req.resume();
  if (contentType.startsWith("application/connect+")) {
    // A Connect streaming error is an end-of-stream message (flag 0x02) with a JSON body, in a 200 response.
    const body = Buffer.from(JSON.stringify({ error: { code: "unimplemented", message: BIDI_OVER_HTTP1 } }));
    const envelope = Buffer.alloc(5 + body.length);
    envelope[0] = 0x02;
    envelope.writeUInt32BE(body.length, 1);
    body.copy(envelope, 5);
    res.writeHead(200, { "content-type": contentType });
    res.end(envelope);
  } else if (contentType.startsWith("application/grpc")) {
    // gRPC-Web (and gRPC) "trailers-only": the status travels in the headers.
    res.writeHead(200, { "content-type": contentType, "grpc-status": GRPC_UNIMPLEMENTED, "grpc-message": encodeURIComponent(BIDI_OVER_HTTP1) });
    res.end();
  } else {
    res.writeHead(501, { "content-type": "text/plain; charset=utf-8" });
    res.end(`${BIDI_OVER_HTTP1}\n`);
  }
}
