/** TLS with a certificate made for the test, and the Prometheus endpoint. */
import { afterEach, describe, expect, it } from "vitest";
import { ChatTester } from "./support/chat-tester.js";
import { makeCert } from "./support/certs.js";
import { startTestServer, stopTestServers } from "./support/server.js";
import { waitUntil } from "./support/wait.js";

afterEach(stopTestServers);

describe("TLS", () => {
  it("serves chat over TLS to a client that trusts the CA, and only over TLS", async () => {
    const cert = makeCert();
    const server = await startTestServer({ tlsCert: cert.certFile, tlsKey: cert.keyFile });
    const tlsUrl = `https://127.0.0.1:${server.port}`;
    const alice = ChatTester.connect(tlsUrl, "alice", { ca: cert.cert });
    alice.join("lobby");
    await alice.joined("lobby");
    const id = alice.send("lobby", "encrypted");
    await alice.waitFor("message", (m) => m.clientMsgId === id);

    const untrusting = ChatTester.connect(tlsUrl, "eve");
    untrusting.join("lobby");
    const refused = await untrusting.done;
    expect(refused.code).not.toBe("ok");
    expect(refused.message).toMatch(/certificate/i);

    const plaintext = ChatTester.connect(`http://127.0.0.1:${server.port}`, "plain");
    plaintext.join("lobby");
    expect((await plaintext.done).code).not.toBe("ok");
    expect(server.hub.sessionCount).toBe(1);
  });

  it("says which file it cannot read", async () => {
    await expect(startTestServer({ tlsCert: "/nonexistent/cert.pem", tlsKey: "/nonexistent/key.pem" })).rejects.toThrow(
      /cannot read TLS certificate \/nonexistent\/cert.pem/,
    );
  });
});

describe("metrics", () => {
  async function scrape(port: number): Promise<Map<string, number>> {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const values = new Map<string, number>();
    for (const line of text.split("\n")) {
      const m = /^([a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$/.exec(line);
      if (m) values.set(m[1], Number(m[2]));
    }
    return values;
  }

  it("counts streams, rooms, members, messages, deliveries, rate-limited commands and latencies", async () => {
    const server = await startTestServer({ metricsPort: "0", rateLimit: 1, rateBurst: 5 });
    const a = ChatTester.connect(server.baseUrl, "a");
    const b = ChatTester.connect(server.baseUrl, "b");
    a.join("lobby");
    b.join("lobby");
    await a.joined("lobby");
    await b.joined("lobby");
    a.send("lobby", "one");
    a.send("lobby", "two");
    await b.messageCount(2);
    for (let i = 0; i < 5; i++) a.send("lobby", `over ${i}`, `o${i}`);
    await waitUntil(() => a.of("error").length >= 2, "rate-limited errors");
    const m = await scrape(server.metricsPort!);
    expect(m.get("chat_open_streams")).toBe(2);
    expect(m.get("chat_rooms")).toBe(1);
    expect(m.get("chat_members")).toBe(2);
    expect(m.get("chat_messages_received_total")).toBeGreaterThanOrEqual(2);
    expect(m.get("chat_messages_delivered_total")).toBeGreaterThanOrEqual(4);
    expect(m.get("chat_rate_limited_total")).toBeGreaterThanOrEqual(2);
    expect(m.get("chat_fanout_latency_seconds_count")).toBeGreaterThanOrEqual(2);
    expect(m.get("chat_store_latency_seconds_count")).toBeGreaterThanOrEqual(1);
    expect(m.get("chat_connections")).toBeGreaterThanOrEqual(1);
    expect(m.has("chat_clients_dropped_too_slow_total")).toBe(true);
    expect(m.has("process_resident_memory_bytes")).toBe(true);
  });

  it("is off unless a port is given", async () => {
    const server = await startTestServer();
    expect(server.metricsPort).toBeUndefined();
  });
});
