/**
 * Load clients for the ws forwarder (bench/ws-server.ts): one WebSocket per
 * client, opened on the fleet's join (the room is the URL path), binary
 * frames. The forwarder sends no joined event, so this reports one locally
 * once the socket is open; a send becomes the ChatResponse frame receivers walk.
 */
import { WebSocket } from "ws";
import type { ClientEvents, Connector, LoadClient } from "./load-client.js";
import { forwardFrameFromSend, joinedFrame, joinRoom } from "./wire.js";

export function wsConnector(address: string, events: ClientEvents): Connector {
  const sockets: WebSocket[] = [];
  return {
    open(index: number): Promise<LoadClient> {
      let ws: WebSocket | undefined;
      const join = (room: string) => {
        const socket = (ws = new WebSocket(`ws://${address}/${encodeURIComponent(room)}`, { perMessageDeflate: false }));
        sockets.push(socket);
        socket.on("message", (data: Buffer) => events.frame(index, data));
        socket.once("open", () => events.frame(index, joinedFrame(room)));
        socket.on("error", (err) => events.ended(index, `error (${err.message})`));
        socket.once("close", (code) => events.ended(index, `closed (${code})`));
      };
      return Promise.resolve({
        send: (bytes) => {
          const room = joinRoom(bytes);
          if (room !== undefined) join(room);
          else ws?.send(forwardFrameFromSend(bytes));
        },
        // Pauses the underlying socket: the kernel buffers fill, then the server's.
        stopReading: () => ws?.pause(),
      });
    },
    closeAll() {
      for (const ws of sockets) ws.terminate();
    },
  };
}
