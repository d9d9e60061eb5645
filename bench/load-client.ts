/** What the load generator needs from a client stack (grpc-js or ws). */

export interface LoadClient {
  /** Send one encoded ChatRequest. */
  send(bytes: Buffer): void;
  /** Stop reading from the server (the client "stalls"); the connection stays open. */
  stopReading(): void;
}

/** Where a connector reports what its clients receive. */
export interface ClientEvents {
  /** One server frame (an encoded ChatResponse) arrived for client `index`. */
  frame(index: number, bytes: Uint8Array): void;
  /** Client `index`'s stream or connection ended, and how. */
  ended(index: number, how: string): void;
}

export interface Connector {
  /** Open client `index`; resolves once it can send. */
  open(index: number): Promise<LoadClient>;
  /** Close every connection. */
  closeAll(): void;
}
