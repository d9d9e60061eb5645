/** What the node says about its Redis never carries the password. */
import { describe, expect, it } from "vitest";
import { authFailureMessage, redactRedisUrl } from "./connection.js";

describe("redactRedisUrl", () => {
  it.each([
    ["redis://:s3cr3t@10.0.0.5:6379/0", "redis://:***@10.0.0.5:6379/0"],
    ["rediss://app:s3cr3t@redis.example.com:6380", "rediss://app:***@redis.example.com:6380"],
    ["redis://:a%40b%3Ac@h:1,redis://:s3cr3t@h:2", "redis://:***@h:1,redis://:***@h:2"],
    ["redis://10.0.0.5:6379", "redis://10.0.0.5:6379"],
    ["redis://app@10.0.0.5:6379", "redis://app@10.0.0.5:6379"],
  ])("%s -> %s", (url, expected) => {
    expect(redactRedisUrl(url)).toBe(expected);
  });
});

describe("authFailureMessage", () => {
  const url = "redis://:s3cr3t@h:6379";
  it("names WRONGPASS and NOAUTH in plain words, without the password", () => {
    const wrong = authFailureMessage(new Error("WRONGPASS invalid username-password pair or user is disabled."), url)!;
    expect(wrong).toMatch(/WRONGPASS: wrong user name or password/);
    const none = authFailureMessage(new Error("NOAUTH Authentication required."), url)!;
    expect(none).toMatch(/requires a password \(NOAUTH\)/);
    for (const m of [wrong, none]) {
      expect(m).not.toContain("s3cr3t");
      expect(m).toContain("redis://:***@h:6379");
      expect(m.split("\n")).toHaveLength(1);
    }
  });

  it("leaves other errors alone", () => {
    expect(authFailureMessage(new Error("connect ECONNREFUSED 127.0.0.1:6379"), url)).toBeUndefined();
  });
});
