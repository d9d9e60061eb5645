/**
 * "The server still serves other clients": a bystander that was connected
 * before the hostile input and a newcomer that connects after it must still
 * be able to meet in a room and talk both ways, and the newcomer must be able
 * to leave cleanly.
 */
import { expect } from "vitest";
import type { ChatTester } from "./chat-tester.js";
import { RawH2Connection } from "./hostile-h2.js";

let newcomers = 0;

export async function expectStillServes(port: number, bystander: ChatTester, room: string, timeoutMs = 15_000): Promise<void> {
  const nick = `newcomer-${++newcomers}`;
  const conn = await RawH2Connection.open(port, timeoutMs);
  const stream = conn.stream();
  stream.join(room, nick);
  await stream.waitFor("joined", (j) => j.room === room, timeoutMs);
  await bystander.waitFor("memberJoined", (e) => e.room === room && e.member?.nickname === nick, timeoutMs);

  stream.send(room, `hello from ${nick}`, `${nick}-1`);
  await bystander.waitFor("message", (m) => m.room === room && m.text === `hello from ${nick}`, timeoutMs);
  const reply = `welcome ${nick}`;
  bystander.send(room, reply);
  await stream.waitFor("message", (m) => m.text === reply, timeoutMs);

  stream.end();
  expect((await stream.waitStatus(timeoutMs)).code).toBe(0);
  await conn.close(timeoutMs);
  await bystander.waitFor("memberLeft", (e) => e.room === room && e.nickname === nick, timeoutMs);
}
