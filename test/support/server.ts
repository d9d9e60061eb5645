/** A real chat server on an ephemeral port, for tests. */
import pino from "pino";
import { closeTesters } from "./chat-tester.js";
import { defaultConfig, type ServerConfig } from "../../src/server/config.js";
import { startChatServer, type ChatServer, type StartOptions } from "../../src/server/server.js";

export interface TestServer extends ChatServer {
  baseUrl: string;
  /** The HTTP port's URL: the web client, Connect, gRPC-Web. */
  httpUrl: string;
}

const running = new Set<TestServer>();
/** The HTTP port each gRPC port's server had: a server restarted on the same port gets the same HTTP port too. */
const httpPortOf = new Map<number, number>();
/** The HTTP URL of the server (last) started at a gRPC base URL. */
const httpUrlOf = new Map<string, string>();

/** The HTTP port's URL of the server at this gRPC base URL (the URL itself if none was started there). */
export function httpUrlFor(baseUrl: string): string {
  return httpUrlOf.get(baseUrl) ?? baseUrl;
}

export async function startTestServer(overrides: Partial<ServerConfig> = {}, options: StartOptions = {}): Promise<TestServer> {
  // Tests that push volume would trip the per-client rate limit; the rate-limit tests set it.
  // History in memory unless a test asks for a file.
  // The HTTP port on a port the system picks (its default, 8080, would collide between test files),
  // or the one this gRPC port's server had before (a restart keeps both ports).
  const previous = overrides.port ? httpPortOf.get(overrides.port) : undefined;
  const config = defaultConfig({ port: 0, httpPort: previous ?? 0, logLevel: "silent", rateLimit: 0, store: "memory", ...overrides });
  const server = await startChatServer(config, { log: pino({ level: "silent" }), ephemeralHttpPort: config.httpPort === 0 && overrides.httpPort === undefined, ...options });
  const scheme = config.tlsCert ? "https" : "http";
  const testServer = { ...server, baseUrl: `http://${server.address}`, httpUrl: `${scheme}://127.0.0.1:${server.httpPort ?? 0}` } as TestServer;
  if (server.httpPort) {
    httpPortOf.set(server.port, server.httpPort);
    httpUrlOf.set(testServer.baseUrl, testServer.httpUrl);
  }
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
