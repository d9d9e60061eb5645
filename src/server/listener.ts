/**
 * The TCP listener. We accept sockets ourselves and hand them to grpc-js
 * through a connection injector, because grpc-js has no limit on total
 * connections: net.Server's maxConnections refuses the excess at accept time,
 * before any HTTP/2 or TLS work is spent on it.
 */
import * as net from "node:net";
import type * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";

export interface Listener {
  port: number;
  connections: () => number;
  /** Stop accepting; existing connections are left to grpc-js's shutdown. */
  close(): void;
}

export async function listen(
  server: grpc.Server,
  credentials: grpc.ServerCredentials,
  opts: { host: string; port: number; maxConnections: number; log: Logger },
): Promise<Listener> {
  const injector = server.createConnectionInjector(credentials);
  let open = 0;
  const tcp = net.createServer({ noDelay: true }, (socket) => {
    open++;
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    opts.log.info({ peer, connections: open }, "connection opened");
    socket.once("close", () => {
      open--;
      opts.log.info({ peer, connections: open }, "connection closed");
    });
    injector.injectConnection(socket);
  });
  tcp.maxConnections = opts.maxConnections;
  tcp.on("drop", (d) => opts.log.warn({ peer: `${d?.remoteAddress}:${d?.remotePort}`, limit: opts.maxConnections }, "connection refused: at connection limit"));
  await new Promise<void>((resolve, reject) => {
    tcp.once("error", (err) => reject(new Error(`cannot listen on ${opts.host}:${opts.port}: ${err.message}`)));
    tcp.listen(opts.port, opts.host, () => resolve());
  });
  tcp.on("error", (err) => opts.log.error({ err }, "listener error"));
  return {
    port: (tcp.address() as net.AddressInfo).port,
    connections: () => open,
    close: () => void tcp.close(),
  };
}
