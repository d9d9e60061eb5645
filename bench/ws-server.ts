/**
 * The ws peer: a forwarder, as the simplest honest WebSocket chat server is.
 * A client joins one room by the URL path it connects to (ws://host/<room>);
 * every frame it sends is forwarded as received (same bytes, same opcode; no
 * parse, no re-serialise) to every member of the room, the sender included
 * (its own copy is its acknowledgement). The load generator sends frames that
 * are already the chat.v1 ChatResponse receivers walk (bench/wire.ts,
 * forwardFrameFromSend), so it measures this server as it measures ours. No
 * sequence numbers, history, presence or limits: a stalled reader is never
 * dropped.
 *
 * Run as a child process: prints one JSON line {"address": "127.0.0.1:port"}.
 */
import { WebSocketServer, type WebSocket } from "ws";

const rooms = new Map<string, Set<WebSocket>>();
const host = "127.0.0.1";
const wss = new WebSocketServer({ host, port: 0, perMessageDeflate: false, maxPayload: 64 * 1024 });

wss.on("connection", (ws, req) => {
  const name = decodeURIComponent((req.url ?? "/").slice(1));
  let room = rooms.get(name);
  if (!room) rooms.set(name, (room = new Set()));
  room.add(ws);
  const members = room;
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    for (const member of members) member.send(data, { binary: isBinary });
  });
  ws.on("close", () => {
    members.delete(ws);
    if (members.size === 0 && rooms.get(name) === members) rooms.delete(name);
  });
  ws.on("error", () => {});
});

wss.on("listening", () => {
  const { port } = wss.address() as { port: number };
  console.log(JSON.stringify({ msg: "ws forwarder listening", address: `${host}:${port}` }));
});

// Nothing to flush or store: stop at once.
const stop = () => process.exit(0);
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
// Started over IPC by the benchmark: go when the benchmark goes.
process.on("disconnect", () => process.exit(0));
