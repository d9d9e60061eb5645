/**
 * The TCP listener. We accept sockets ourselves and hand them to grpc-js
 * through a connection injector, because grpc-js has no limit on total
 * connections. Past the limit, a plaintext connection is answered by a tiny
 * HTTP/2 responder that fails every call with UNAVAILABLE and a clear reason
 * (a silently closed socket leaves some clients waiting); past a further
 * margin, or with TLS, the socket is simply closed. Nothing grows unbounded.
 */
import * as http2 from "node:http2";
import * as net from "node:net";
import type * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";

/** Connections over the limit that may still get a polite refusal at once. */
const REFUSAL_SLOTS = 64;
/** Pending connections the kernel may hold (capped by net.core.somaxconn). */
const LISTEN_BACKLOG = 8192;
/** A refused connection is closed after this long even if the client lingers. */
const REFUSAL_TIMEOUT_MS = 2000;

export interface Listener {
  port: number;
  connections: () => number;
  /** Stop accepting; existing connections are left to grpc-js's shutdown. */
  close(): void;
  /**
   * From now on, a connection whose every byte has been written, up to our FIN
   * (its HTTP/2 session is over on our side), is closed `lingerMs` later even if
   * the client has not hung up: a busy or frozen client must not hold a shutdown.
   */
  hangUpAfterFinish(lingerMs: number): void;
}

export interface ListenOptions {
  host: string;
  port: number;
  maxConnections: number;
  /** With TLS there is no plaintext refusal: excess sockets are closed. */
  tls: boolean;
  log: Logger;
}

function refusalResponder(message: string): http2.Http2Server {
  const responder = http2.createServer();
  responder.on("stream", (stream) => {
    // A gRPC "trailers-only" response: the status travels in the headers.
    stream.respond(
      { ":status": 200, "content-type": "application/grpc", "grpc-status": "14", "grpc-message": encodeURIComponent(message) },
      { endStream: true },
    );
    stream.session?.close();
  });
  responder.on("session", (session) => session.setTimeout(REFUSAL_TIMEOUT_MS, () => session.destroy()));
  responder.on("sessionError", () => {});
  return responder;
}

function ignore(): void {}

function peerOf(socket: net.Socket): string {
  return `${socket.remoteAddress}:${socket.remotePort}`;
}

export async function listen(server: grpc.Server, credentials: grpc.ServerCredentials, opts: ListenOptions): Promise<Listener> {
  const injector = server.createConnectionInjector(credentials);
  const refusal = refusalResponder(`server is at its limit of ${opts.maxConnections} connections; retry later`);
  let served = 0;
  const sockets = new Set<net.Socket>();
  // Per-connection lines are debug: a reconnect storm of thousands would drown the log
  // (and cost a write each); streams are logged at info, with who they are.
  const debug = () => opts.log.isLevelEnabled("debug");
  // One close handler for every socket (`this`), not a closure each: with thousands
  // of connections every per-connection object counts.
  function onClose(this: net.Socket): void {
    served--;
    sockets.delete(this);
    if (debug()) opts.log.debug({ peer: peerOf(this), connections: served }, "connection closed");
  }
  const tcp = net.createServer({ noDelay: true }, (socket) => {
    socket.on("error", ignore);
    if (served >= opts.maxConnections) {
      opts.log.warn({ peer: peerOf(socket), limit: opts.maxConnections }, "connection refused: at connection limit");
      if (opts.tls) socket.destroy();
      else refusal.emit("connection", socket);
      return;
    }
    served++;
    sockets.add(socket);
    if (debug()) opts.log.debug({ peer: peerOf(socket), connections: served }, "connection opened");
    socket.on("close", onClose);
    injector.injectConnection(socket);
  });
  // The hard cap: beyond it the kernel-accepted socket is closed at once.
  tcp.maxConnections = opts.maxConnections + (opts.tls ? 0 : REFUSAL_SLOTS);
  tcp.on("drop", () => opts.log.warn({ limit: opts.maxConnections }, "connection dropped: over the connection limit"));
  await new Promise<void>((resolve, reject) => {
    tcp.once("error", (err: NodeJS.ErrnoException) => {
      // The newcomer's usual case: another server (or another copy of this one) has the port.
      const why = err.code === "EADDRINUSE" ? "the port is in use; pick another with --port (or PORT)" : err.message;
      reject(new Error(`cannot listen on ${opts.host}:${opts.port}: ${why}`));
    });
    // A reconnect storm (a restart with thousands of clients) arrives faster than
    // connections are set up; Node's default backlog (511) would drop SYNs, and the
    // kernel's retransmit backoff (1 s, 3 s, ...) would stretch the storm out.
    tcp.listen({ port: opts.port, host: opts.host, backlog: LISTEN_BACKLOG }, () => resolve());
  });
  tcp.on("error", (err) => opts.log.error({ err }, "listener error"));
  return {
    port: (tcp.address() as net.AddressInfo).port,
    connections: () => served,
    close: () => {
      tcp.close();
      refusal.close();
    },
    hangUpAfterFinish: (lingerMs) => {
      // The linger lets the kernel deliver what it still holds: closing a socket with
      // unread input sends a RST, and a RST discards what the peer has not acknowledged.
      const hangUp = (socket: net.Socket) => setTimeout(() => socket.destroy(), lingerMs).unref();
      for (const socket of sockets) {
        if (socket.writableFinished) hangUp(socket);
        else socket.once("finish", () => hangUp(socket));
      }
    },
  };
}
