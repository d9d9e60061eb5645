/**
 * Assembles the process: one hub, the grpc-js server with the chat service,
 * health and reflection, and the listener. Chooses adapters and ports only;
 * behaviour lives in the hub and the handlers.
 */
import * as grpc from "@grpc/grpc-js";
import pino, { type Logger } from "pino";
import { ChatService } from "../../gen/chat/v1/chat_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { Hub } from "../hub/hub.js";
import type { HubLimits } from "../hub/limits.js";
import type { HistoryStore } from "../store/history-store.js";
import { MemoryHistoryStore } from "../store/memory-store.js";
import { chatStreamHandler } from "./chat-stream.js";
import type { ServerConfig } from "./config.js";
import { grpcServiceDefinition } from "./grpc-definition.js";
import { HealthRegistry, ServingStatus } from "./health.js";
import { addReflection } from "./reflection.js";
import { unaryHandlers } from "./unary-handlers.js";

export interface ChatServer {
  hub: Hub;
  health: HealthRegistry;
  /** The port actually bound (useful with port 0). */
  port: number;
  address: string;
  /** Stop: tell clients, end streams, close the listener and the store. */
  close(deadlineMs?: number): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  store?: HistoryStore;
  /** Hub limits with no command-line option (e.g. replay page size), for tuning and tests. */
  hubLimits?: Partial<HubLimits>;
}

export async function startChatServer(config: ServerConfig, options: StartOptions = {}): Promise<ChatServer> {
  const log = options.log ?? pino({ level: config.logLevel });
  const store = options.store ?? new MemoryHistoryStore({ maxMessagesPerRoom: config.historyLimit, maxAgeMs: 0 });
  const hub = new Hub({
    store,
    limits: {
      maxSessions: config.maxStreams,
      maxRoomsPerSession: config.maxRoomsPerClient,
      maxRooms: config.maxRooms,
      maxMembersPerRoom: config.maxMembersPerRoom,
      maxQueuedBytes: config.maxQueuedBytes,
      stallTimeoutMs: config.stallTimeoutMs,
      heartbeatIntervalMs: config.heartbeatMs,
      rateLimitPerSec: config.rateLimit,
      rateBurst: config.rateBurst,
      ...options.hubLimits,
    },
    onStoreError: (err) => log.error({ err }, "history store refused a batch; senders were told to retry"),
  });
  const server = new grpc.Server({
    "grpc.max_receive_message_length": config.maxRequestBytes,
  });
  server.addService(grpcServiceDefinition(ChatService), {
    Chat: chatStreamHandler({ hub, log, resetGraceMs: 1000 }),
    ...unaryHandlers(hub),
  });
  const health = new HealthRegistry([ChatService.typeName]);
  health.register(server);
  addReflection(server, [ChatService, Health]);

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${config.host}:${config.port}`, grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(new Error(`cannot listen on ${config.host}:${config.port}: ${err.message}`)) : resolve(bound),
    ),
  );
  const address = `${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
  log.info({ address, grpc: `http://${address}` }, `chat server listening on ${address} (gRPC, reflection, health)`);

  let closing: Promise<void> | undefined;
  const close = (deadlineMs = 5000) =>
    (closing ??= (async () => {
      health.setAll(ServingStatus.NOT_SERVING);
      hub.shutdown();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, deadlineMs);
        timer.unref();
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      store.close();
      log.info("chat server stopped");
    })());
  return { hub, health, port, address, close };
}
