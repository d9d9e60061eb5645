/**
 * The HTTP port's listener: HTTP/1.1 and HTTP/2 on one port. Plaintext, it
 * looks at a connection's first bytes: the HTTP/2 connection preface means a
 * client speaking h2c with prior knowledge (Connect and gRPC clients),
 * anything else is HTTP/1.1 (browsers, curl). With TLS, ALPN decides. As on
 * the gRPC port, connections are counted and bounded here: past the limit a
 * plaintext client gets a one-line 503, past a further margin (or with TLS)
 * the socket is closed.
 */
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { Logger } from "pino";

export type RequestHandler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => void;

export interface HttpListenOptions {
  host: string;
  port: number;
  maxConnections: number;
  /** Concurrent streams on one HTTP/2 connection. */
  maxStreamsPerConnection: number;
  /** An HTTP/2 connection or an HTTP/1.1 socket with no traffic for this long is closed. */
  idleTimeoutMs: number;
  /** TCP keepalive probes after this much silence, to notice vanished peers. */
  keepaliveMs: number;
  /** PEM certificate chain and key: serve HTTPS (HTTP/2 or HTTP/1.1 by ALPN). */
  tls?: { cert: Buffer; key: Buffer };
  handler: RequestHandler;
  log: Logger;
}

export interface HttpListener {
  port: number;
  connections(): number;
  /** Stop accepting; let open exchanges finish, closing each connection once idle; cut what is left at the deadline. */
  close(deadlineMs: number): Promise<void>;
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** A connection that sends nothing to tell its protocol by within this is closed. */
const SNIFF_TIMEOUT_MS = 10_000;
/** Connections over the limit that may still get a polite refusal at once. */
const REFUSAL_SLOTS = 64;

export async function listenHttp(opts: HttpListenOptions): Promise<HttpListener> {
  const settings = { maxConcurrentStreams: opts.maxStreamsPerConnection };
  const h2 = opts.tls
    ? http2.createSecureServer({ cert: opts.tls.cert, key: opts.tls.key, allowHTTP1: true, settings }, opts.handler)
    : http2.createServer({ settings }, opts.handler);
  // No 'timeout' listener: an idle session is destroyed.
  h2.setTimeout(opts.idleTimeoutMs);
  const h1 = opts.tls ? undefined : http.createServer(opts.handler);
  if (h1) h1.timeout = opts.idleTimeoutMs;

  let closing = false;
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  /** HTTP/1.1 sockets (plain or TLS) and how many of their requests are in progress. */
  const h1Busy = new Map<net.Socket, number>();
  h2.on("session", (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    if (closing) session.close();
  });
  h2.on("sessionError", () => {});
  const trackH1 = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    if (!h1Busy.has(socket)) socket.once("close", () => h1Busy.delete(socket));
    h1Busy.set(socket, (h1Busy.get(socket) ?? 0) + 1);
    if (closing) res.setHeader("connection", "close");
    res.once("close", () => {
      const left = (h1Busy.get(socket) ?? 1) - 1;
      if (h1Busy.has(socket)) h1Busy.set(socket, left);
      if (closing && left === 0) socket.destroy();
    });
  };
  for (const server of [h1, h2]) {
    server?.prependListener("request", (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => {
      if (!("stream" in req)) trackH1(req, res as http.ServerResponse);
    });
  }

  const refusal = `HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n\r\nserver is at its limit of ${opts.maxConnections} connections; retry later\n`;
  const tcp = net.createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: opts.keepaliveMs }, (socket) => {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.on("error", () => {});
    if (sockets.size >= opts.maxConnections || closing) {
      opts.log.warn({ peer, limit: opts.maxConnections, port: "http" }, "connection refused: at connection limit");
      if (opts.tls) socket.destroy();
      else socket.end(refusal);
      setTimeout(() => socket.destroy(), 2000).unref();
      return;
    }
    sockets.add(socket);
    opts.log.debug({ peer, connections: sockets.size, port: "http" }, "connection opened");
    socket.once("close", () => sockets.delete(socket));
    if (opts.tls) h2.emit("connection", socket);
    else sniff(socket, h1!, h2);
  });
  tcp.maxConnections = opts.maxConnections + (opts.tls ? 0 : REFUSAL_SLOTS);
  await new Promise<void>((resolve, reject) => {
    tcp.once("error", (err: NodeJS.ErrnoException) => {
      const why = err.code === "EADDRINUSE" ? "the port is in use; pick another with --http-port (or HTTP_PORT), or turn it off with --http-port 0" : err.message;
      reject(new Error(`cannot listen on ${opts.host}:${opts.port} (HTTP port): ${why}`));
    });
    tcp.listen(opts.port, opts.host, () => resolve());
  });
  tcp.on("error", (err) => opts.log.error({ err }, "HTTP listener error"));

  return {
    port: (tcp.address() as net.AddressInfo).port,
    connections: () => sockets.size,
    close: async (deadlineMs) => {
      closing = true;
      tcp.close();
      for (const session of sessions) session.close();
      for (const [socket, busy] of h1Busy) if (busy === 0) socket.destroy();
      const deadline = Date.now() + deadlineMs;
      while (sockets.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      for (const socket of sockets) socket.destroy();
    },
  };
}

/**
 * Hand the socket to the HTTP/2 server if it starts with the connection
 * preface, else to the HTTP/1.1 server, with the bytes read so far put back.
 * The HTTP/2 session picks them up from the paused socket's buffer (Node
 * reads a socket's readableLength when a session starts); the HTTP/1.1
 * server needs the socket flowing again.
 */
function sniff(socket: net.Socket, h1: http.Server, h2: http2.Http2Server): void {
  let seen: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => socket.destroy(), SNIFF_TIMEOUT_MS);
  const onData = (chunk: Buffer) => {
    seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, PREFACE.length);
    const isH2 = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
    if (isH2 && seen.length < PREFACE.length) return; // could still be either: wait for more
    clearTimeout(timer);
    socket.off("data", onData);
    socket.off("end", onEnd);
    socket.pause();
    socket.unshift(seen);
    if (isH2) {
      h2.emit("connection", socket);
    } else {
      h1.emit("connection", socket);
      socket.resume();
    }
  };
  const onEnd = () => {
    clearTimeout(timer);
    socket.destroy();
  };
  socket.on("data", onData);
  socket.once("end", onEnd);
}
