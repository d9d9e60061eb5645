/**
 * Assembles the process: one hub over the configured history store, the
 * grpc-js server with the chat service, health and reflection, the TCP
 * listener, and the metrics endpoint. Chooses adapters and ports only;
 * behaviour lives in the hub and the handlers.
 */
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { AdminService } from "../../gen/chat/v1/admin_pb.js";
import { ChatService } from "../../gen/chat/v1/chat_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { FlushScheduler } from "../hub/flush-scheduler.js";
import { Hub } from "../hub/hub.js";
import { EmbeddedRoomLog } from "../log/embedded-log.js";
import { redactRedisUrl } from "../log/redis/connection.js";
import { RedisRoomLog } from "../log/redis/redis-log.js";
import type { RoomLog } from "../log/room-log.js";
import type { HubLimits } from "../hub/limits.js";
import type { HistoryStore } from "../store/history-store.js";
import { openHistoryStore } from "../store/open-store.js";
import { defaultRetention } from "../store/retention.js";
import { readAdminKey } from "./admin/admin-key.js";
import { createAdminNode } from "./admin/admin-node.js";
import { adminGrpcHandlers, adminRoutes } from "./admin/admin-transports.js";
import { createAuthenticator } from "./auth.js";
import { chatStreamHandler } from "./chat-stream.js";
import { corsOriginList, type ServerConfig } from "./config.js";
import { startGateway, type Gateway } from "./gateway.js";
import { grpcServiceDefinition } from "./grpc-definition.js";
import { HealthRegistry, ServingStatus } from "./health.js";
import { listen } from "./listener.js";
import { createLogger } from "./logger.js";
import { ChatMetrics } from "./metrics.js";
import { openSessionHandler } from "./open-session-stream.js";
import { addReflection } from "./reflection.js";
import { chatRoutes } from "./routes.js";
import { randomNodeId } from "./session-id.js";
import { SessionRegistry } from "./session-registry.js";
import { unaryHandlers } from "./unary-handlers.js";

/** At shutdown, how long a connection we have finished writing to waits for its client to hang up. */
const HANG_UP_LINGER_MS = 1000;

export interface ChatServer {
  hub: Hub;
  health: HealthRegistry;
  /** The port actually bound (useful with port 0). */
  port: number;
  address: string;
  /** The metrics port, when metrics are on. */
  metricsPort?: number;
  /** The HTTP port (web client, Connect, gRPC-Web), when it is on. */
  httpPort?: number;
  /** This node's id, the prefix of its session ids. */
  nodeId: string;
  /** Sessions opened with OpenSession. */
  sessions: SessionRegistry;
  /** Open TCP connections. */
  connections(): number;
  /** Stop: refuse new streams, tell clients, finish what was accepted, close. */
  close(deadlineMs?: number): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  /** Use this store instead of opening the configured one (it is closed with the server). */
  store?: HistoryStore;
  /** Hub limits with no command-line option (e.g. replay page size), for tuning and tests. */
  hubLimits?: Partial<HubLimits>;
  /** How long a dropped stream may take to deliver its status before it is reset (default 1000 ms). */
  resetGraceMs?: number;
  /** Serve the HTTP port on a port the system picks (tests: config.httpPort 0 means off). */
  ephemeralHttpPort?: boolean;
}

function grpcOptions(config: ServerConfig): grpc.ServerOptions {
  return {
    "grpc.max_receive_message_length": config.maxRequestBytes,
    "grpc.max_concurrent_streams": config.maxStreamsPerConnection,
    "grpc.keepalive_time_ms": config.keepaliveMs,
    "grpc.keepalive_timeout_ms": config.keepaliveTimeoutMs,
    "grpc.max_connection_idle_ms": config.idleTimeoutMs,
    // Channelz keeps per-socket and per-call records we never read: cost on every connection.
    "grpc.enable_channelz": 0,
  };
}

function readTls(config: ServerConfig): { cert: Buffer; key: Buffer } | undefined {
  if (!config.tlsCert) return undefined;
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`cannot read TLS ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  return { cert: read(config.tlsCert, "certificate"), key: read(config.tlsKey, "key") };
}

function credentials(tls: { cert: Buffer; key: Buffer } | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(null, [{ cert_chain: tls.cert, private_key: tls.key }], false);
}

/** The embedded log over the configured history store, or, with --redis, the Redis log. */
function openRoomLog(config: ServerConfig, options: StartOptions, scheduler: FlushScheduler, metrics: ChatMetrics, log: Logger, nodeId: string): RoomLog {
  const retention = {
    ...defaultRetention,
    maxMessagesPerRoom: config.historyLimit,
    maxAgeMs: config.historyMaxAgeSec * 1000,
    idWindowMs: config.idempotencyWindowSec * 1000,
  };
  if (config.redis) {
    return new RedisRoomLog({
      url: config.redis,
      cluster: config.redisCluster,
      prefix: config.redisPrefix,
      retention,
      leaseMs: config.nodeLeaseMs,
      commandTimeoutMs: config.redisCommandTimeoutMs,
      // Its connections carry the routing name an operator gave it (CLIENT LIST shows which node is which).
      nodeName: nodeId,
      minReplicas: config.redisMinReplicas,
      onCounterBehind: () => metrics.roomCounterBehind(),
      onEvent: (level, message, fields) => log[level](fields ?? {}, message),
    });
  }
  const store =
    options.store ??
    openHistoryStore({ kind: config.store as "sqlite" | "memory", path: config.db, retention, memoryMaxBytes: config.memoryStoreMaxBytes });
  return new EmbeddedRoomLog({
    store,
    turn: scheduler,
    onCommit: (messages, storeMs) => metrics.committed(messages, storeMs),
    onStoreError: (err) => log.error({ err }, "history store refused a batch; senders were told to retry"),
  });
}

export async function startChatServer(config: ServerConfig, options: StartOptions = {}): Promise<ChatServer> {
  const log = options.log ?? createLogger({ level: config.logLevel, format: config.logFormat });
  const authenticate = createAuthenticator({
    secret: config.authSecret || undefined,
    publicKeyFile: config.authPublicKey || undefined,
    issuer: config.authIssuer || undefined,
    audience: config.authAudience || undefined,
    maxTokenAgeSec: config.authMaxTokenAge,
  });
  const tls = readTls(config);
  // Read before anything opens: a missing or short key file stops the start with one line.
  const adminKey = config.adminKeyFile ? readAdminKey(config.adminKeyFile) : undefined;
  const creds = credentials(tls);
  let hub: Hub | undefined;
  let connections = () => 0;
  let roomLog: RoomLog | undefined;
  let closing: Promise<void> | undefined;
  const metrics = new ChatMetrics(() => hub, () => connections(), () => roomLog?.available ?? false);
  const scheduler = new FlushScheduler();
  const nodeId = config.nodeId || randomNodeId();
  roomLog = openRoomLog(config, options, scheduler, metrics, log, nodeId);
  hub = new Hub({
    log: roomLog,
    scheduler,
    observer: metrics,
    limits: {
      maxSessions: config.maxStreams,
      maxRoomsPerSession: config.maxRoomsPerClient,
      maxRooms: config.maxRooms,
      maxMembersPerRoom: config.maxMembersPerRoom,
      membersOnJoin: config.membersOnJoin,
      presenceThreshold: config.presenceThreshold,
      presenceIntervalMs: config.presenceIntervalMs,
      readReceiptsMaxMembers: config.readReceiptsMaxMembers,
      maxQueuedBytes: config.maxQueuedBytes,
      stallTimeoutMs: config.stallTimeoutMs,
      heartbeatIntervalMs: config.heartbeatMs,
      rateLimitPerSec: config.rateLimit,
      rateBurst: config.rateBurst,
      editWindowMs: config.editWindowSec * 1000,
      ...options.hubLimits,
    },
  });
  const resetGraceMs = options.resetGraceMs ?? 1000;
  // A browser cannot answer HTTP/2 pings: a session silent for longer than a ping would be is taken for gone.
  const sessions = new SessionRegistry({ hub, nodeId, log, leaseMs: config.keepaliveMs + config.keepaliveTimeoutMs });
  const admin = createAdminNode(config, adminKey, hub, roomLog, nodeId, log);
  const server = new grpc.Server(grpcOptions(config));
  server.addService(grpcServiceDefinition(ChatService), {
    Chat: chatStreamHandler({ hub, log, resetGraceMs, authenticate }),
    OpenSession: openSessionHandler({ registry: sessions, log, resetGraceMs, authenticate }),
    ...unaryHandlers(hub, authenticate, sessions),
  });
  server.addService(grpcServiceDefinition(AdminService), adminGrpcHandlers(admin.calls));
  const health = new HealthRegistry([ChatService.typeName]);
  health.register(server);
  addReflection(server, [ChatService, AdminService, Health]);
  // The server serves only while its room log answers (Redis may come and go). Both names change:
  // a balancer checking "" (the whole server) must not keep sending clients to a node that refuses them.
  roomLog.onAvailability((available) => {
    if (!closing) health.setAll(available ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
  });
  // Redis refusing the password stops the start (connect throws, one line); the metrics' timers must not outlive it.
  let connected = true;
  if (roomLog instanceof RedisRoomLog) {
    try {
      connected = await roomLog.connect();
    } catch (err) {
      metrics.dispose();
      await admin.close();
      throw err;
    }
  }
  await admin.start();
  if (!connected) {
    health.setAll(ServingStatus.NOT_SERVING);
    log.warn({ redis: redactRedisUrl(config.redis) }, "Redis is not answering yet: starting anyway, NOT_SERVING until it does");
  }

  let listener: Awaited<ReturnType<typeof listen>> | undefined;
  let metricsServer: Awaited<ReturnType<ChatMetrics["serve"]>> | undefined;
  let gateway: Gateway | undefined;
  const httpHost = config.httpHost || config.host;
  try {
    listener = await listen(server, creds, { host: config.host, port: config.port, maxConnections: config.maxConnections, tls: Boolean(config.tlsCert), log });
    connections = listener.connections;
    if (config.httpPort !== 0 || options.ephemeralHttpPort) {
      gateway = await startGateway({
        host: httpHost,
        port: config.httpPort,
        routes: (router) => {
          chatRoutes({ hub, registry: sessions, log, authenticate, resetGraceMs, highWaterBytes: hub.limits.maxFrameBytes })(router);
          adminRoutes(admin.calls)(router);
        },
        maxConnections: config.maxConnections,
        maxStreamsPerConnection: config.maxStreamsPerConnection,
        maxRequestBytes: config.maxRequestBytes,
        idleTimeoutMs: config.idleTimeoutMs,
        keepaliveMs: config.keepaliveMs,
        corsOrigins: corsOriginList(config.corsOrigins),
        tls,
        log,
      });
    }
    if (config.metricsPort !== "") metricsServer = await metrics.serve(config.metricsHost, Number(config.metricsPort));
  } catch (err) {
    void gateway?.close(0);
    listener?.close();
    server.forceShutdown();
    await admin.close();
    await roomLog.close();
    throw err;
  }
  const port = listener.port;
  const address = `${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
  const httpAddress = gateway && `${httpHost.includes(":") ? `[${httpHost}]` : httpHost}:${gateway.port}`;
  const webUrl = httpAddress && `${tls ? "https" : "http"}://${httpAddress}`;
  log.info(
    {
      address,
      http: webUrl,
      node: nodeId,
      tls: Boolean(config.tlsCert),
      auth: Boolean(authenticate),
      store: config.redis ? `${config.redisCluster ? "redis cluster" : "redis"} ${redactRedisUrl(config.redis)} (node ${(roomLog as RedisRoomLog).nodeId})` : config.store === "sqlite" && !options.store ? config.db : config.store,
      metrics: metricsServer ? `http://${config.metricsHost}:${metricsServer.port}/metrics` : undefined,
    },
    `chat server listening on ${address} (gRPC${config.tlsCert ? " over TLS" : ""}, reflection, health)` +
      (webUrl ? `; web client and Connect/gRPC-Web API on ${webUrl}${gateway!.servesPage ? "" : " (page not built: run npm run build)"}` : ""),
  );

  const close = (deadlineMs = config.shutdownDeadlineMs) =>
    (closing ??= (async () => {
      const startedAt = Date.now();
      log.info({ deadlineMs }, "shutting down: refusing new streams, telling clients");
      // Watchers are told NOT_SERVING and their calls end: an open Watch must not hold the shutdown.
      health.shutdown();
      listener!.close();
      // Clients normally hang up as soon as they have their status; one that does not
      // (frozen, or too busy) would otherwise hold the shutdown until the deadline.
      listener!.hangUpAfterFinish(HANG_UP_LINGER_MS);
      await hub!.shutdown();
      const httpClosed = gateway?.close(deadlineMs);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          log.warn("shutdown deadline passed: cutting remaining streams");
          server.forceShutdown();
          resolve();
        }, deadlineMs);
        timer.unref();
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await httpClosed;
      log.info({ ms: Date.now() - startedAt }, "streams and connections closed");
      await metricsServer?.close();
      metrics.dispose();
      await admin.close();
      await roomLog.close();
      log.info({ ms: Date.now() - startedAt }, "chat server stopped");
    })());
  return { hub, health, port, address, metricsPort: metricsServer?.port, httpPort: gateway?.port, nodeId, sessions, connections, close };
}
