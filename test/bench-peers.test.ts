/**
 * The benchmark's peers (issue 20), each a real child process driven by the
 * bench's own load clients: two clients join one room, one sends, and both
 * (the sender's copy is its acknowledgement) receive the message as the
 * fleet reads it. The ws forwarder must relay the sender's bytes unchanged.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { grpcConnector } from "../bench/grpc-load.js";
import type { ClientEvents, Connector, LoadClient } from "../bench/load-client.js";
import { sioConnector } from "../bench/sio-load.js";
import { checkWire, encodeJoin, forwardFrameFromSend, loadMessageId, SendEncoder, walkFrame } from "../bench/wire.js";
import { wsConnector } from "../bench/ws-load.js";
import { waitUntil } from "./support/wait.js";

const started: ChildProcess[] = [];
const connectors: Connector[] = [];

afterEach(() => {
  for (const c of connectors.splice(0)) c.closeAll();
  for (const child of started.splice(0)) if (child.exitCode === null) process.kill(child.pid!, "SIGKILL");
});

/** Start a peer script (as the bench does: node --import tsx) and wait for its address line. */
async function startPeer(script: string): Promise<string> {
  const child = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "inherit"] });
  started.push(child);
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  const line = await waitUntil(() => out.split("\n").find((l) => l.includes('"address"')), `${script} to listen`, 20_000);
  return JSON.parse(line).address as string;
}

interface Seen {
  joined: number[];
  messages: { client: number; sender: number; seq: number; roomSeq: number }[];
  frames: Uint8Array[];
}

function recorder(): { seen: Seen; events: ClientEvents } {
  const seen: Seen = { joined: [], messages: [], frames: [] };
  const visitor = {
    joined: (c: number) => seen.joined.push(c),
    message: (client: number, _step: number, sender: number, seq: number, _sent: number, _now: number, roomSeq: number) =>
      seen.messages.push({ client, sender, seq, roomSeq }),
    memberLeft: () => {},
    error: () => {},
  };
  return {
    seen,
    events: {
      frame: (index, bytes) => {
        seen.frames.push(Buffer.from(bytes));
        walkFrame(bytes, index, 0, visitor);
      },
      ended: () => {},
    },
  };
}

async function twoInARoom(connector: Connector, seen: Seen): Promise<LoadClient[]> {
  connectors.push(connector);
  const clients = [await connector.open(0), await connector.open(1)];
  clients.forEach((c, i) => c.send(encodeJoin("peers", `c${i}`)));
  await waitUntil(() => seen.joined.length === 2, "both clients to join", 10_000);
  return clients;
}

const send = new SendEncoder("peers", "hello");

describe("bench peers", () => {
  it("the bench's wire code round-trips, the forwarded frame included", () => {
    expect(() => checkWire()).not.toThrow();
  });

  it("the ws forwarder relays the sender's frame unchanged to every member, the sender included", async () => {
    const address = await startPeer("bench/ws-server.ts");
    const { seen, events } = recorder();
    const [sender] = await twoInARoom(wsConnector(address, events), seen);
    const request = send.encode(loadMessageId(0, 0, 1, 123));
    sender.send(request);
    await waitUntil(() => seen.messages.length === 2, "both copies", 10_000);
    expect(seen.messages.map((m) => m.client).sort()).toEqual([0, 1]);
    const relayed = seen.frames.filter((f) => f.length > 0 && walksToMessage(f));
    expect(relayed).toHaveLength(2);
    for (const f of relayed) expect(Buffer.compare(Buffer.from(f), forwardFrameFromSend(request))).toBe(0);
  });

  it("the grpc-js peer answers joins and broadcasts with the room's seq", async () => {
    const address = await startPeer("bench/grpc-server.ts");
    const { seen, events } = recorder();
    const [sender] = await twoInARoom(grpcConnector(address, events), seen);
    sender.send(send.encode(loadMessageId(0, 0, 1, 123)));
    sender.send(send.encode(loadMessageId(0, 0, 2, 124)));
    await waitUntil(() => seen.messages.length === 4, "two messages to both", 10_000);
    for (const client of [0, 1]) {
      expect(seen.messages.filter((m) => m.client === client).map((m) => [m.seq, m.roomSeq])).toEqual([
        [1, 1],
        [2, 2],
      ]);
    }
  });

  it("the Socket.IO peer broadcasts to the room, the sender included", async () => {
    const address = await startPeer("bench/sio-server.ts");
    const { seen, events } = recorder();
    const [sender] = await twoInARoom(sioConnector(address, events), seen);
    sender.send(send.encode(loadMessageId(0, 0, 1, 123)));
    await waitUntil(() => seen.messages.length === 2, "both copies", 10_000);
    expect(seen.messages.map((m) => m.client).sort()).toEqual([0, 1]);
  });
});

function walksToMessage(frame: Uint8Array): boolean {
  let found = false;
  walkFrame(frame, 0, 0, { joined: () => {}, message: () => (found = true), memberLeft: () => {}, error: () => {} });
  return found;
}
