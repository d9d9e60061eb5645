/** Session ids: 128 random bits after the node id, and the node read back from them. */
import { describe, expect, it } from "vitest";
import { newSessionId, nodeOfSession, randomNodeId } from "./session-id.js";

describe("session ids", () => {
  it("name their node and carry 128 random bits", () => {
    const ids = Array.from({ length: 100 }, () => newSessionId("node-7"));
    for (const id of ids) {
      expect(id).toMatch(/^node-7\.[A-Za-z0-9_-]{22}$/);
      expect(Buffer.from(id.split(".")[1], "base64url")).toHaveLength(16);
      expect(nodeOfSession(id)).toBe("node-7");
    }
    expect(new Set(ids).size).toBe(100);
  });

  it("a random node id is usable as one; anything else names no node", () => {
    expect(nodeOfSession(newSessionId(randomNodeId()))).toMatch(/^[0-9a-f]{8}$/);
    for (const id of ["", "nodot", ".abc", "bad node.abc", `${"x".repeat(33)}.abc`]) expect(nodeOfSession(id)).toBeUndefined();
  });
});
