/**
 * `npm run build:binary`'s executable (scripts/build-binary.ts, built here into a temp dir:
 * ~0.5 s) run with a PATH that holds no bun, node or deno, only sh and the demo watchdog's
 * tools: `--help`, `demo` (its traffic child is the binary itself) and `serve --cgroup`.
 * Bun builds it, so it runs under `bun test` only.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "../helpers/harness.ts";
import { DEMO_OK_ROWS } from "../helpers/cli.ts";
import { bpf, isDeno } from "../helpers/env.ts";
import { cleanup, PREFIX, sendUdp, testCgroup } from "../helpers/fixture.ts";
import { bareBin, bareEnv, sampleFor, scrapeOnce } from "../helpers/bare.ts";

const ROOT = resolve(import.meta.dirname, "../..");

// Building the binary does not depend on the kernel: skipped in the matrix's emulated guests.
const inGuest = process.env.CGSTORE_GUEST === "1";
describe.skipIf(!bpf.ok || isDeno || inGuest)(`the standalone binary, with no JavaScript runtime on PATH${inGuest ? " [skipped in a matrix guest]" : ""}`, () => {
  let dir = "", exe = "", bin = "";
  const env = () => bareEnv(bin);
  const run = (args: string[]) => spawnSync(exe, args, { env: env(), encoding: "utf8", timeout: 30_000 });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), `${PREFIX}${process.pid}-binary-`));
    exe = join(dir, "cgstore");
    const build = spawnSync(process.execPath, [join(ROOT, "scripts/build-binary.ts"), exe], { encoding: "utf8" });
    if (build.status !== 0) throw new Error(`build-binary failed: ${build.stderr}${build.stdout}`);
    bin = bareBin(join(dir, "bin"));
  });
  afterEach(() => {
    cleanup();
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("no bun, node or deno on its PATH; --help", () => {
    for (const rt of ["bun", "node", "deno"]) {
      expect(spawnSync(join(bin, "sh"), ["-c", `command -v ${rt}`], { env: env() }).status).not.toBe(0);
    }
    const r = run(["--help"]);
    expect(r.stdout).toContain("Usage:");
    expect(r.status).toBe(0);
  });

  test("demo: the embedded counter, the binary as its own traffic child, every count agrees", () => {
    const r = run(["demo"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("All counts agree.");
    expect(r.stdout.match(/✓$/gm)?.length).toBe(DEMO_OK_ROWS);
    expect(r.status).toBe(0);
  });

  test("serve --cgroup: /metrics scraped once", async () => {
    const cg = testCgroup("binary-serve");
    const { status, body } = await scrapeOnce([exe, "serve", "--cgroup", cg.path, "--web.listen-address", "127.0.0.1:0"], { env: env() }, () => sendUdp(cg, 4, 10));
    expect(status).toBe(200);
    expect(body).toMatch(sampleFor(cg.path, PREFIX, 4));
  });
});
