/**
 * Hostile TCP peers: one that writes bytes which are not a gRPC conversation,
 * and a proxy that can go silent (a client that vanished without closing:
 * its machine lost power, a NAT forgot the mapping, a cable was pulled).
 */
import * as net from "node:net";

/** Deterministic bytes (xorshift32), so a failure can be replayed exactly. */
export function pseudoRandomBytes(seed: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

export const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** An HTTP/2 frame header and payload, however wrong its fields. */
export function http2Frame(type: number, flags: number, streamId: number, payload: Buffer, declaredLength = payload.length): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(declaredLength, 0, 3);
  header.writeUInt8(type, 3);
  header.writeUInt8(flags, 4);
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

export interface RawOutcome {
  /** What the server sent before closing (its SETTINGS, maybe a GOAWAY). */
  received: Buffer;
  /** How the socket ended: "end" (server FIN), "reset" (ECONNRESET or EPIPE). */
  how: "end" | "reset";
}

/**
 * Connect, write `bytes`, and wait for the server to close the connection.
 * Rejects if it is still open after `timeoutMs`: a server that keeps a socket
 * open after garbage is leaking it to anyone who can reach the port.
 */
export function writeRawAndAwaitClose(port: number, bytes: Buffer, timeoutMs = 15_000): Promise<RawOutcome> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    const received: Buffer[] = [];
    let how: RawOutcome["how"] = "end";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`server kept the connection open ${timeoutMs} ms after ${bytes.length} hostile bytes (it sent ${Buffer.concat(received).toString("hex")})`));
    }, timeoutMs);
    socket.on("data", (d: Buffer) => received.push(d));
    socket.on("error", (err: NodeJS.ErrnoException) => {
      // The server may close while we are still writing a large payload.
      if (err.code === "ECONNRESET" || err.code === "EPIPE") how = "reset";
      else {
        clearTimeout(timer);
        reject(err);
      }
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ received: Buffer.concat(received), how });
    });
    socket.on("connect", () => socket.write(bytes));
  });
}

/** HTTP/2 error codes (RFC 9113 section 7) the tests look for. */
export const H2_ERROR = { PROTOCOL_ERROR: 1, FRAME_SIZE_ERROR: 6, COMPRESSION_ERROR: 9 } as const;

/** The error code of the first GOAWAY among the server-to-client frames in `bytes`, if any. */
export function goawayCode(bytes: Buffer): number | undefined {
  let at = 0;
  while (at + 9 <= bytes.length) {
    const length = bytes.readUIntBE(at, 3);
    const type = bytes.readUInt8(at + 3);
    if (type === 0x7 && at + 9 + 8 <= bytes.length) return bytes.readUInt32BE(at + 9 + 4);
    at += 9 + length;
  }
  return undefined;
}

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
}

/**
 * A TCP proxy on 127.0.0.1 in front of `targetPort`. freeze() stops
 * forwarding in both directions but keeps every socket open: to the server,
 * the client is still connected and simply never answers again.
 */
export class FreezableProxy {
  private readonly pairs = new Set<Pair>();
  private frozen = false;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<FreezableProxy> {
    let proxy: FreezableProxy | undefined;
    const server = net.createServer((client) => {
      const upstream = net.connect({ host: "127.0.0.1", port: targetPort });
      const pair = { client, upstream };
      proxy!.pairs.add(pair);
      client.on("error", () => {});
      upstream.on("error", () => {});
      const drop = () => {
        proxy!.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on("close", drop);
      upstream.on("close", drop);
      if (proxy!.frozen) return;
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    proxy = new FreezableProxy(server, (server.address() as net.AddressInfo).port);
    return proxy;
  }

  get connections(): number {
    return this.pairs.size;
  }

  /** Stop forwarding both ways; close nothing. */
  freeze(): void {
    this.frozen = true;
    for (const { client, upstream } of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  /** Tear everything down (the test's own cleanup, after the assertions). */
  async close(): Promise<void> {
    const closing = [...this.pairs].flatMap(({ client, upstream }) => [client, upstream]).map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.closed) return resolve();
          s.once("close", () => resolve());
          s.destroy();
        }),
    );
    await Promise.all([...closing, new Promise<void>((resolve) => this.server.close(() => resolve()))]);
  }
}
