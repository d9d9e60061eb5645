/**
 * Load clients on the cheapest gRPC stack: grpc-js's generic Client with
 * pass-through (de)serialisers, so a request is the bytes bench/wire.ts built
 * and a response frame reaches the walker undecoded. Each channel is its own
 * HTTP/2 connection (a local subchannel pool; the global pool would share one
 * connection among all channels to the same address); `streamsPerChannel`
 * chooses how many Chat streams share one.
 */
import * as grpc from "@grpc/grpc-js";
import type { ClientEvents, Connector, LoadClient } from "./load-client.js";

const CHAT = "/chat.v1.ChatService/Chat";
const passBytes = (b: Buffer): Buffer => b;

export function grpcConnector(address: string, events: ClientEvents, streamsPerChannel = 1): Connector {
  const channels: grpc.Client[] = [];
  const channelFor = (index: number): grpc.Client => {
    const n = Math.floor(index / streamsPerChannel);
    return (channels[n] ??= new grpc.Client(address, grpc.credentials.createInsecure(), {
      "grpc.use_local_subchannel_pool": 1,
      "grpc.max_receive_message_length": -1,
    }));
  };
  return {
    open(index: number): Promise<LoadClient> {
      const call = channelFor(index).makeBidiStreamRequest(CHAT, passBytes, passBytes);
      let ended = false;
      call.on("data", (frame: Buffer) => events.frame(index, frame));
      call.on("error", () => {}); // reported once, with its code, by "status"
      call.on("status", (s: grpc.StatusObject) => {
        if (ended) return;
        ended = true;
        events.ended(index, `${grpc.status[s.code]}${s.details ? `: ${s.details}` : ""}`);
      });
      return Promise.resolve({
        send: (bytes) => void call.write(bytes),
        stopReading: () => void call.pause(),
      });
    },
    closeAll() {
      for (const channel of channels) channel?.close();
    },
  };
}
