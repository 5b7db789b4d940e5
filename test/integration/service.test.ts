/** contrib/cgstore.service: systemd accepts it, and it grants what README's measured table says. */
import { describe, expect, test } from "../helpers/harness.ts";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const UNIT = resolve(import.meta.dirname, "../../contrib/cgstore.service");
const hasAnalyze = spawnSync("systemd-analyze", ["--version"]).status === 0;

describe("contrib/cgstore.service", () => {
  const text = readFileSync(UNIT, "utf8");
  const setting = (key: string) => text.split("\n").filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));

  test("runs serve --map on loopback as a dynamic user with no capability and no new privileges", () => {
    expect(setting("ExecStart")[0]).toMatch(/ serve --map \S+ .*--web\.listen-address 127\.0\.0\.1:\d+/);
    expect(setting("DynamicUser")).toEqual(["yes"]);
    expect(setting("NoNewPrivileges")).toEqual(["yes"]);
    expect(setting("AmbientCapabilities")).toEqual([""]);
    expect(setting("CapabilityBoundingSet")).toEqual([""]);
    expect(setting("ProtectSystem")).toEqual(["strict"]);
  });

  test.skipIf(!hasAnalyze)("systemd-analyze verify accepts it (ExecStart pointed at /bin/true)", () => {
    const dir = mkdtempSync(join(tmpdir(), "cgstore-unit-"));
    try {
      const unit = join(dir, "cgstore.service");
      writeFileSync(unit, text.replace(/^ExecStart=\S+/m, "ExecStart=/bin/true"));
      const r = spawnSync("systemd-analyze", ["verify", unit], { encoding: "utf8" });
      expect([r.status, r.stderr]).toEqual([0, ""]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
