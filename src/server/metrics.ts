/**
 * Prometheus metrics on their own HTTP port. Counters are fed by the hub's
 * observer hooks; gauges are read from the hub when scraped, so the hot path
 * only increments numbers.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Hub } from "../hub/hub.js";
import type { HubObserver } from "../hub/observer.js";

export class ChatMetrics implements HubObserver {
  readonly registry = new Registry();
  private readonly commands = new Counter({ name: "chat_commands_received_total", help: "Commands received from clients", registers: [this.registry] });
  private readonly received = new Counter({ name: "chat_messages_received_total", help: "Messages accepted for storage and fan-out", registers: [this.registry] });
  private readonly delivered = new Counter({ name: "chat_messages_delivered_total", help: "Message deliveries queued to members (one per receiver)", registers: [this.registry] });
  private readonly tooSlow = new Counter({ name: "chat_clients_dropped_too_slow_total", help: "Clients disconnected for not reading fast enough", registers: [this.registry] });
  private readonly limited = new Counter({ name: "chat_rate_limited_total", help: "Commands refused by the per-client rate limit", registers: [this.registry] });
  private readonly counterBehind = new Counter({
    name: "chat_room_log_counter_behind_total",
    help: "Rooms whose Redis counter was found behind a number already delivered (a failover to a lagging replica, an older snapshot): each reset with a new epoch",
    registers: [this.registry],
  });
  private readonly fanout = new Histogram({
    name: "chat_fanout_latency_seconds",
    help: "Time from accepting a message to queueing it for every local member (this node's senders)",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  private readonly store = new Histogram({
    name: "chat_store_latency_seconds",
    help: "Time to store one turn's batch of messages",
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1],
    registers: [this.registry],
  });

  constructor(hub: () => Hub | undefined, connections: () => number, logAvailable: () => boolean = () => true) {
    collectDefaultMetrics({ register: this.registry });
    const gauge = (name: string, help: string, read: (h: Hub) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          const h = hub();
          this.set(h ? read(h) : 0);
        },
      });
    gauge("chat_open_streams", "Open Chat streams", (h) => h.sessionCount);
    gauge("chat_rooms", "Rooms with members on this node", (h) => h.roomCount);
    gauge("chat_members", "Room memberships on this node", (h) => h.memberCount);
    gauge("chat_queued_bytes", "Bytes waiting in subscriber queues", (h) => h.queuedBytes);
    new Gauge({ name: "chat_connections", help: "Open TCP connections", registers: [this.registry], collect() { this.set(connections()); } });
    new Gauge({
      name: "chat_room_log_available",
      help: "1 while the room log (embedded, or Redis) answers; 0 while sends and joins are refused",
      registers: [this.registry],
      collect() {
        this.set(logAvailable() ? 1 : 0);
      },
    });
  }

  commandReceived(): void {
    this.commands.inc();
  }
  messageAccepted(): void {
    this.received.inc();
  }
  committed(_messages: number, storeMs: number): void {
    this.store.observe(storeMs / 1000);
  }
  fannedOut(receivers: number): void {
    this.delivered.inc(receivers);
  }
  acknowledged(latencyMs: number): void {
    this.fanout.observe(latencyMs / 1000);
  }
  droppedTooSlow(): void {
    this.tooSlow.inc();
  }
  rateLimited(): void {
    this.limited.inc();
  }
  /** The Redis log found a room's counter behind what was delivered (not a hub event). */
  roomCounterBehind(): void {
    this.counterBehind.inc();
  }

  /** Drop every metric: the default collectors hold the registry (and so the hub) otherwise. */
  dispose(): void {
    this.registry.clear();
  }

  /** Serve /metrics on host:port; resolves with the bound port. */
  async serve(host: string, port: number): Promise<{ port: number; close: () => Promise<void> }> {
    const server = http.createServer(async (req, res) => {
      if (req.url !== "/metrics") {
        res.writeHead(404).end("not found; try /metrics\n");
        return;
      }
      res.writeHead(200, { "content-type": this.registry.contentType });
      res.end(await this.registry.metrics());
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err) => reject(new Error(`cannot serve metrics on ${host}:${port}: ${err.message}`)));
      server.listen(port, host, () => resolve());
    });
    return {
      port: (server.address() as AddressInfo).port,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }
}
