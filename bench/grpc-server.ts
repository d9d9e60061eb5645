/**
 * The grpc-js peer: the least a gRPC broadcast server on our chat.v1 schema
 * can do, so our server's ratios to it say what our protocol's promises cost.
 * One bidi Chat stream per client (grpc-js, raw bytes in and out, protobuf-es
 * for the messages). A join puts the stream in the room and answers with a
 * JoinedEvent; a send becomes a ChatMessage with the room's next seq. Events
 * are batched per room per event-loop turn: at the end of the turn each room
 * with events encodes ONE ChatResponse carrying all of them and writes that
 * same frame to every member, the sender included (its own copy is its
 * acknowledgement, as with ours). No history, no presence, no acks beyond
 * that, no limits and no flow control: a stalled reader is never dropped.
 *
 * Run as a child process: prints one JSON line {"address": "127.0.0.1:port"}.
 */
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ChatRequestSchema, ChatResponseSchema, ServerEventSchema, type ServerEvent } from "../gen/chat/v1/chat_pb.js";

type Call = grpc.ServerDuplexStream<Buffer, Buffer>;

interface Room {
  name: string;
  members: Set<Call>;
  seq: bigint;
  /** Events of this turn, not yet written. */
  pending: ServerEvent[];
}

const rooms = new Map<string, Room>();
/** Rooms with pending events; flushed once per event-loop turn. */
const dirty = new Set<Room>();
let flushQueued = false;

function flush(): void {
  flushQueued = false;
  for (const room of dirty) {
    const frame = Buffer.from(toBinary(ChatResponseSchema, create(ChatResponseSchema, { events: room.pending })));
    room.pending = [];
    for (const member of room.members) member.write(frame);
  }
  dirty.clear();
}

function publish(room: Room, event: ServerEvent): void {
  room.pending.push(event);
  dirty.add(room);
  if (!flushQueued) {
    flushQueued = true;
    setImmediate(flush);
  }
}

function reply(call: Call, event: ServerEvent): void {
  call.write(Buffer.from(toBinary(ChatResponseSchema, create(ChatResponseSchema, { events: [event] }))));
}

function chat(call: Call): void {
  const joined = new Map<Room, string>(); // room -> nickname
  call.on("data", (bytes: Buffer) => {
    let req;
    try {
      req = fromBinary(ChatRequestSchema, bytes);
    } catch {
      return;
    }
    const cmd = req.command;
    if (cmd.case === "join") {
      let room = rooms.get(cmd.value.room);
      if (!room) rooms.set(cmd.value.room, (room = { name: cmd.value.room, members: new Set(), seq: 0n, pending: [] }));
      room.members.add(call);
      joined.set(room, cmd.value.nickname);
      reply(call, create(ServerEventSchema, { event: { case: "joined", value: { room: room.name, nickname: cmd.value.nickname, lastSeq: room.seq } } }));
    } else if (cmd.case === "send") {
      const room = rooms.get(cmd.value.room);
      const sender = room && joined.get(room);
      if (!room || sender === undefined) return;
      room.seq++;
      const message = { room: room.name, seq: room.seq, sender, text: cmd.value.text, sentAt: timestampFromMs(Date.now()), clientMsgId: cmd.value.clientMsgId };
      publish(room, create(ServerEventSchema, { event: { case: "message", value: message } }));
    }
  });
  const leave = () => {
    for (const room of joined.keys()) {
      room.members.delete(call);
      if (room.members.size === 0 && rooms.get(room.name) === room) rooms.delete(room.name);
    }
    joined.clear();
  };
  call.on("end", () => {
    leave();
    call.end();
  });
  call.on("cancelled", leave);
  call.on("error", leave);
}

const passBytes = (b: Buffer): Buffer => b;
const service: grpc.ServiceDefinition = {
  Chat: {
    path: "/chat.v1.ChatService/Chat",
    requestStream: true,
    responseStream: true,
    requestSerialize: passBytes,
    requestDeserialize: passBytes,
    responseSerialize: passBytes,
    responseDeserialize: passBytes,
  },
};

const host = "127.0.0.1";
const server = new grpc.Server({ "grpc.max_receive_message_length": -1, "grpc.max_send_message_length": -1 });
server.addService(service, { Chat: chat as grpc.handleBidiStreamingCall<Buffer, Buffer> });
server.bindAsync(`${host}:0`, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    console.error(err.message);
    process.exit(1);
  }
  console.log(JSON.stringify({ msg: "grpc-js peer listening", address: `${host}:${port}` }));
});

const stop = () => process.exit(0);
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
process.on("disconnect", () => process.exit(0));
