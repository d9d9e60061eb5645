/**
 * The baseline: a raw `ws` broadcast server, as naive as such servers are.
 * It speaks the same chat.v1 messages as the real server (a ChatRequest per
 * WebSocket message in, a ChatResponse per message out, same fields: room,
 * seq, sender, text, sent_at, client_msg_id), so the load generator does the
 * same work for both. Per incoming message it decodes the request, assigns
 * the room's next sequence number, encodes the broadcast once and calls
 * `ws.send` for every member, the sender included (that is the sender's
 * acknowledgement, as in the real server). No queue limits, no history, no
 * presence events: a stalled reader is never dropped.
 *
 * Run as a child process: prints one JSON line {"address": "127.0.0.1:port"}.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { WebSocketServer, type WebSocket } from "ws";
import { ChatRequestSchema, ChatResponseSchema, ServerEventSchema } from "../gen/chat/v1/chat_pb.js";

interface Room {
  members: Set<WebSocket>;
  seq: bigint;
}

const rooms = new Map<string, Room>();
const host = "127.0.0.1";
const wss = new WebSocketServer({ host, port: 0, perMessageDeflate: false, maxPayload: 64 * 1024 });

function frame(event: Parameters<typeof create<typeof ServerEventSchema>>[1]): Uint8Array {
  return toBinary(ChatResponseSchema, create(ChatResponseSchema, { events: [create(ServerEventSchema, event)] }));
}

wss.on("connection", (ws) => {
  const joined = new Map<string, string>(); // room -> nickname
  ws.on("message", (data: Buffer) => {
    let req;
    try {
      req = fromBinary(ChatRequestSchema, data);
    } catch {
      return;
    }
    const cmd = req.command;
    if (cmd.case === "join") {
      let room = rooms.get(cmd.value.room);
      if (!room) rooms.set(cmd.value.room, (room = { members: new Set(), seq: 0n }));
      room.members.add(ws);
      joined.set(cmd.value.room, cmd.value.nickname);
      ws.send(frame({ event: { case: "joined", value: { room: cmd.value.room, nickname: cmd.value.nickname, lastSeq: room.seq } } }));
    } else if (cmd.case === "send") {
      const room = rooms.get(cmd.value.room);
      const sender = joined.get(cmd.value.room);
      if (!room || sender === undefined) return;
      room.seq++;
      const bytes = frame({
        event: {
          case: "message",
          value: {
            room: cmd.value.room,
            seq: room.seq,
            sender,
            text: cmd.value.text,
            sentAt: timestampFromMs(Date.now()),
            clientMsgId: cmd.value.clientMsgId,
          },
        },
      });
      for (const member of room.members) member.send(bytes);
    }
  });
  ws.on("close", () => {
    for (const name of joined.keys()) {
      const room = rooms.get(name);
      room?.members.delete(ws);
      if (room && room.members.size === 0) rooms.delete(name);
    }
  });
  ws.on("error", () => {});
});

wss.on("listening", () => {
  const { port } = wss.address() as { port: number };
  console.log(JSON.stringify({ msg: "ws baseline listening", address: `${host}:${port}` }));
});

// Nothing to flush or store: stop at once.
const stop = () => process.exit(0);
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
// Started over IPC by the benchmark: go when the benchmark goes.
process.on("disconnect", () => process.exit(0));
