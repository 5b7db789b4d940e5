/**
 * `npm run build:binary`: cgstore as one executable, `dist/cgstore` (or the path given), made by
 * `bun build --compile` with the bundled BPF objects embedded under their own names (so
 * `bundledObject` finds them in `Bun.embeddedFiles`). It needs only glibc and libbpf.so.1
 * (Debian's libbpf1) on the target: no Bun, Node or Deno. Run `make -s -C native` first.
 */
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { BUNDLED_OBJECTS } from "../src/bundled.ts";

const root = resolve(import.meta.dirname, "..");
const out = resolve(process.argv[2] ?? resolve(root, "dist/cgstore"));
const r = spawnSync(process.execPath, [
  "build", "--compile", "--asset-naming=[name].[ext]", "--outfile", out,
  "src/cli/binary.ts", ...BUNDLED_OBJECTS.map((name) => `native/build/${name}`),
], { cwd: root, stdio: "inherit" });
process.exit(r.status ?? 1);
