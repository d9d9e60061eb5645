/** A real chat server on an ephemeral port, for tests. */
import pino from "pino";
import { closeTesters } from "./chat-tester.js";
import { defaultConfig, type ServerConfig } from "../../src/server/config.js";
import { startChatServer, type ChatServer, type StartOptions } from "../../src/server/server.js";

export interface TestServer extends ChatServer {
  baseUrl: string;
  /** The HTTP port's URL, when the test turned it on (`httpPort: await freePort()`). */
  httpUrl: string;
}

const running = new Set<TestServer>();

export async function startTestServer(overrides: Partial<ServerConfig> = {}, options: StartOptions = {}): Promise<TestServer> {
  // Tests that push volume would trip the per-client rate limit; the rate-limit tests set it.
  // History in memory unless a test asks for a file.
  // The HTTP port is off unless a test asks for it (its default, 8080, would collide between test files).
  const config = defaultConfig({ port: 0, httpPort: 0, logLevel: "silent", rateLimit: 0, store: "memory", ...overrides });
  const server = await startChatServer(config, { log: pino({ level: "silent" }), ...options });
  const scheme = config.tlsCert ? "https" : "http";
  const testServer = { ...server, baseUrl: `http://${server.address}`, httpUrl: `${scheme}://127.0.0.1:${server.httpPort ?? 0}` } as TestServer;
  running.add(testServer);
  return testServer;
}

/** Close every server started by this test file (call from afterEach). */
export async function stopTestServers(): Promise<void> {
  closeTesters();
  const all = [...running];
  running.clear();
  await Promise.all(all.map((s) => s.close(1000)));
}
