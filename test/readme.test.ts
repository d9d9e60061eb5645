/** The README's configuration table and quick start stay true to the code. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { OPTIONS, helpText } from "../src/server/config.js";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");

describe("README", () => {
  it.each(OPTIONS.map((o) => [o.flag, o]))("documents --%s with its environment variable and default", (_flag, o) => {
    const row = readme.split("\n").find((l) => l.startsWith(`| \`--${o.flag}\``));
    expect(row, `README has no table row for --${o.flag}`).toBeDefined();
    expect(row).toContain(`\`${o.env}\``);
    if (o.default !== "") expect(row).toContain(`\`${o.default}\``);
  });

  it("gives the two-command set-up", () => {
    expect(readme).toContain("npm install && npm start");
    expect(readme).toContain("npm test");
  });

  it("tells how to deploy the installed commands", () => {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { bin: Record<string, string> };
    expect(readme).toContain("## Deploying");
    for (const name of Object.keys(pkg.bin)) expect(readme).toContain(`node_modules/.bin/${name}`);
  });

  it("warns in the quick start that npm install is silent while SQLite compiles", () => {
    const quickStart = readme.slice(readme.indexOf("## Quick start"), readme.indexOf("## The terminal client"));
    expect(quickStart).toMatch(/may print nothing for two or three minutes/);
    expect(quickStart).toContain("> npm run build");
  });

  it("the systemd unit runs without an account to create first", () => {
    const unit = readme.slice(readme.indexOf("[Service]"), readme.indexOf("[Install]"));
    expect(unit).toContain("DynamicUser=yes");
    expect(unit).toContain("StateDirectory=grpc-chat");
    expect(unit).not.toMatch(/^User=/m);
  });

  it("shows the admin API with curl, its credential and its statuses", () => {
    const section = readme.slice(readme.indexOf("## Admin API"), readme.indexOf("## grpcurl"));
    expect(section).toContain("--admin-key-file");
    expect(section).toMatch(/curl -s -H "authorization: Bearer \$KEY" -H 'content-type: application\/json' -d '\{"room":"team"/);
    for (const method of ["CreateRoom", "AddMember", "Publish", "DisconnectUser"]) expect(section).toContain(`/chat.v1.AdminService/${method}`);
    for (const status of ["UNAUTHENTICATED", "PERMISSION_DENIED", "NOT_FOUND"]) expect(section).toContain(status);
  });

  it("--help lists every option", () => {
    const help = helpText("npm start --");
    for (const o of OPTIONS) expect(help).toContain(`--${o.flag}`);
  });
});
