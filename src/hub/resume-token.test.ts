import { describe, expect, it } from "vitest";
import { hashResumeToken, newResumeToken } from "./resume-token.js";

describe("resume tokens", () => {
  it("are 43 base64url characters, all different, across refills of the random pool", () => {
    const tokens = Array.from({ length: 1000 }, newResumeToken);
    for (const t of tokens) expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(new Set(tokens).size).toBe(tokens.length);
  });

  it("are kept only as their SHA-256", () => {
    expect(hashResumeToken("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });
});
