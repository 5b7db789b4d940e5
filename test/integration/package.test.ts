/**
 * The package as a user gets it: `npm pack` (whose prepack builds the BPF objects and checks
 * that each loads), installed into an empty project, then run with a PATH that holds the
 * runtime and a few shell tools but no clang, make, cc or gcc:
 * - under Bun: `bun add <tarball>`; the README example (importing "cgstore"), `bunx cgstore …`;
 * - under Deno: Deno cannot run TypeScript from node_modules (ERR_UNSUPPORTED_NODE_MODULES_TYPE_
 *   STRIPPING), so `npm:cgstore` is out; a Deno user takes the JSR package or, as here, the same
 *   files unpacked into the project (`vendor/cgstore`, mapped to "cgstore" by deno.json's imports)
 *   and runs `deno run -A vendor/cgstore/src/cli/main.ts …`.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "../helpers/harness.ts";
import { BUNDLED_OBJECTS } from "../../src/index.ts";
import { bpf, isDeno } from "../helpers/env.ts";
import { cleanup, PREFIX, sendUdp, testCgroup } from "../helpers/fixture.ts";
import { bareBin, bareEnv, sampleFor, scrapeOnce } from "../helpers/bare.ts";
import { DEMO_OK_ROWS } from "../helpers/cli.ts";

const ROOT = resolve(import.meta.dirname, "../..");

/** `cmd` on this process's PATH (resolved through symlinks), or null. */
function onPath(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const p = join(dir || ".", cmd);
    if (existsSync(p)) return realpathSync(p);
  }
  return null;
}

const NPM = onPath("npm");
const RUNTIME = realpathSync(process.execPath);
const why = !NPM ? "no npm on PATH" : !existsSync(join(ROOT, "native/Makefile")) ? "not a checkout" : null;

describe.skipIf(!bpf.ok || why !== null)(`the packed package, installed, with no compiler on PATH (${isDeno ? "Deno" : "Bun"})`, () => {
  let dir = "", bin = "", project = "", env: Record<string, string> = {};
  /** argv of the installed `cgstore` command. */
  let cgstore: string[] = [];
  const run = (argv: string[]) => spawnSync(argv[0]!, argv.slice(1), { cwd: project, env, encoding: "utf8", timeout: 30_000 });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), `${PREFIX}${process.pid}-pkg-`));
    const pack = spawnSync(NPM!, ["pack", "--silent", "--pack-destination", dir], { cwd: ROOT, encoding: "utf8" });
    if (pack.status !== 0) throw new Error(`npm pack failed: ${pack.stderr}${pack.stdout}`);
    const tarball = join(dir, readdirSync(dir).find((f) => f.endsWith(".tgz"))!);

    // The runtime, and bun as bunx too (it acts as bunx when called so).
    bin = bareBin(join(dir, "bin"), isDeno ? { deno: RUNTIME } : { bun: RUNTIME, bunx: RUNTIME });
    env = bareEnv(bin);

    project = join(dir, "project");
    mkdirSync(project);
    if (isDeno) {
      mkdirSync(join(project, "vendor"));
      const untar = spawnSync("tar", ["xzf", tarball, "-C", join(project, "vendor")], { encoding: "utf8" });
      if (untar.status !== 0) throw new Error(`tar: ${untar.stderr}`);
      spawnSync("mv", [join(project, "vendor/package"), join(project, "vendor/cgstore")]);
      // A vendored copy's own deno.json is not the project's: its npm dependencies (yaml,
      // bcryptjs) are mapped here as a Deno user would (JSR applies the package's own imports).
      const vendored = JSON.parse(readFileSync(join(project, "vendor/cgstore/deno.json"), "utf8")) as { imports?: Record<string, string> };
      writeFileSync(join(project, "deno.json"), JSON.stringify({
        nodeModulesDir: "auto", imports: { ...vendored.imports, cgstore: "./vendor/cgstore/src/index.ts" },
      }));
      // The user's install step (as `bun add` is on the other side): fetches yaml and bcryptjs.
      const install = run([join(bin, "deno"), "install"]);
      if (install.status !== 0) throw new Error(`deno install: ${install.stderr}`);
      cgstore = [join(bin, "deno"), "run", "-A", "vendor/cgstore/src/cli/main.ts"];
    } else {
      writeFileSync(join(project, "package.json"), JSON.stringify({ name: "project", private: true }));
      const add = run([join(bin, "bun"), "add", tarball]);
      if (add.status !== 0) throw new Error(`bun add: ${add.stderr}`);
      cgstore = [join(bin, "bunx"), "cgstore"];
    }
  });

  afterEach(() => {
    cleanup();
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("the PATH holds no compiler, and the tarball carries every compiled object", () => {
    for (const tool of ["clang", "make", "cc", "gcc"]) expect(run([join(bin, "sh"), "-c", `command -v ${tool}`]).status).not.toBe(0);
    const installed = join(project, isDeno ? "vendor/cgstore" : "node_modules/cgstore");
    expect(readdirSync(join(installed, "native/build")).sort()).toEqual([...BUNDLED_OBJECTS].sort());
  });

  test("the README example runs as written, importing \"cgstore\"", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const code = /^## Example\n\n```ts\n([\s\S]*?)^```/m.exec(readme)?.[1];
    expect(code).toContain('from "cgstore"');
    const name = `${PREFIX}${process.pid}-readme`; // the example's cgroup, under the test prefix
    writeFileSync(join(project, "example.ts"), code!.replace('"my-app"', JSON.stringify(name)) +
      'console.log("example:", stats.info.name, cg.path.endsWith(' + JSON.stringify(name) + "));\n");
    const r = run(isDeno ? [join(bin, "deno"), "run", "-A", "example.ts"] : [join(bin, "bun"), "example.ts"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("example: pcpu_stats true");
    expect(r.status).toBe(0);
  });

  test("cgstore demo: every count agrees, traffic from a child of the runtime", () => {
    const r = run([...cgstore, "demo"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("All counts agree.");
    expect(r.stdout.match(/✓$/gm)?.length).toBe(DEMO_OK_ROWS);
    expect(r.status).toBe(0);
  });

  test("cgstore serve --cgroup: /metrics scraped once", async () => {
    const cg = testCgroup("pkg-serve");
    const { status, body } = await scrapeOnce([...cgstore, "serve", "--cgroup", cg.path, "--web.listen-address", "127.0.0.1:0"], { cwd: project, env }, () => sendUdp(cg, 3, 10));
    expect(status).toBe(200);
    expect(body).toMatch(sampleFor(cg.path, PREFIX, 3));
  });

  test("cgstore top --cgroup --iterations 1", () => {
    const cg = testCgroup("pkg-top");
    const r = run([...cgstore, "top", "--cgroup", cg.path, "--iterations", "1", "--interval", "0.2"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^pcpu_stats: top /m);
    expect(r.status).toBe(0);
  });
});
