/** Load clients for the ws baseline: one WebSocket per client, binary chat.v1 messages. */
import { WebSocket } from "ws";
import type { ClientEvents, Connector, LoadClient } from "./load-client.js";

export function wsConnector(address: string, events: ClientEvents): Connector {
  const sockets: WebSocket[] = [];
  return {
    open(index: number): Promise<LoadClient> {
      const ws = new WebSocket(`ws://${address}`, { perMessageDeflate: false });
      sockets.push(ws);
      ws.on("message", (data: Buffer) => events.frame(index, data));
      return new Promise((resolve, reject) => {
        ws.once("open", () =>
          resolve({
            send: (bytes) => ws.send(bytes),
            // Pauses the underlying socket: the kernel buffers fill, then the server's.
            stopReading: () => ws.pause(),
          }),
        );
        ws.once("error", (err) => reject(err));
        ws.on("error", () => {});
        ws.once("close", (code) => events.ended(index, `closed (${code})`));
      });
    },
    closeAll() {
      for (const ws of sockets) ws.terminate();
    },
  };
}
