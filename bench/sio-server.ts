/**
 * The Socket.IO 4 peer: a room server as its documentation writes one,
 * websocket transport only. "join" puts the socket in a room (acknowledged);
 * "m" with (room, frame) is emitted to the whole room, the sender included
 * (its own copy is its acknowledgement). The frame is a binary attachment the
 * server never reads (the load generator sends the ChatResponse receivers walk);
 * Socket.IO encodes each broadcast once for all members. No sequence
 * numbers, history or limits.
 *
 * Run as a child process: prints one JSON line {"address": "127.0.0.1:port"}.
 */
import { createServer } from "node:http";
import { Server } from "socket.io";

const host = "127.0.0.1";
const http = createServer();
const io = new Server(http, { transports: ["websocket"], serveClient: false, perMessageDeflate: false });

io.on("connection", (socket) => {
  socket.on("join", (room: string, ack?: () => void) => {
    void socket.join(room);
    ack?.();
  });
  socket.on("m", (room: string, frame: Buffer) => {
    io.to(room).emit("m", frame);
  });
});

http.listen(0, host, () => {
  const { port } = http.address() as { port: number };
  console.log(JSON.stringify({ msg: "socket.io peer listening", address: `${host}:${port}` }));
});

const stop = () => process.exit(0);
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
process.on("disconnect", () => process.exit(0));
