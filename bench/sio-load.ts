/**
 * Load clients for the Socket.IO peer (bench/sio-server.ts): one socket.io-client
 * connection per client (forceNew: no shared Manager, so no multiplexing),
 * websocket transport only, no reconnection (a dropped client must show). A
 * join is the "join" event, reported as a joined frame once acknowledged; a
 * send is "m" with the ChatResponse frame receivers walk, as a binary attachment.
 */
import { io, type Socket } from "socket.io-client";
import type { ClientEvents, Connector, LoadClient } from "./load-client.js";
import { forwardFrameFromSend, joinedFrame, joinRoom } from "./wire.js";

export function sioConnector(address: string, events: ClientEvents): Connector {
  const sockets: Socket[] = [];
  return {
    open(index: number): Promise<LoadClient> {
      const socket = io(`http://${address}`, { transports: ["websocket"], forceNew: true, reconnection: false });
      sockets.push(socket);
      let room = "";
      socket.on("m", (frame: Buffer | ArrayBuffer) => events.frame(index, frame instanceof ArrayBuffer ? new Uint8Array(frame) : frame));
      socket.on("disconnect", (reason) => events.ended(index, `disconnected (${reason})`));
      return new Promise((resolve, reject) => {
        socket.once("connect_error", (err) => reject(err));
        socket.once("connect", () =>
          resolve({
            send: (bytes) => {
              const joining = joinRoom(bytes);
              if (joining === undefined) return void socket.emit("m", room, forwardFrameFromSend(bytes));
              room = joining;
              socket.emit("join", joining, () => events.frame(index, joinedFrame(joining)));
            },
            // Socket.IO has no pause; stop the engine's underlying TCP socket (best effort: the stalled scenario does not run this peer).
            stopReading: () => (socket.io.engine as unknown as { transport?: { ws?: { _socket?: { pause(): void } } } }).transport?.ws?._socket?.pause(),
          }),
        );
      });
    },
    closeAll() {
      for (const s of sockets) s.disconnect();
    },
  };
}
