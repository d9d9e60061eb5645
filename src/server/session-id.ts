/**
 * Session ids of OpenSession sessions and the node ids they start with. A
 * session lives in one process; the id says which, so a load balancer in
 * front of several nodes can send each Command call to the node holding its
 * session (see the README, "Browser sessions across nodes").
 */
import { randomBytes } from "node:crypto";

/** A node id: what a load balancer routes Command calls on (see the README, "Browser sessions across nodes"). */
export const NODE_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

/** A fresh node id for a node that was not given one: 8 hex characters. */
export function randomNodeId(): string {
  return randomBytes(4).toString("hex");
}

/**
 * `<node id>.<128 random bits in base64url>`: unguessable, so holding the id
 * is what lets a client command the session when authentication is off, and
 * the prefix names the node that holds it.
 */
export function newSessionId(nodeId: string): string {
  return `${nodeId}.${randomBytes(16).toString("base64url")}`;
}

/** The node named by a session id, or undefined if it is not one. */
export function nodeOfSession(sessionId: string): string | undefined {
  const dot = sessionId.indexOf(".");
  const node = dot > 0 ? sessionId.slice(0, dot) : "";
  return NODE_ID_PATTERN.test(node) ? node : undefined;
}
