/** The bundled BPF programs: built on first use if a package install shipped only sources. */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EnvironmentError } from "./errors.ts";

const nativeUrl = new URL("../../native", import.meta.url);
/** native/ of this checkout or install; null when the code was loaded over the network (JSR). */
export const NATIVE: string | null = nativeUrl.protocol === "file:" ? fileURLToPath(nativeUrl) : null;

/** Path of a file in native/build, running `make -C native` first if it is missing. */
export function nativeBuild(file: string): string {
  if (NATIVE === null) {
    throw new EnvironmentError(`the bundled BPF programs need a local copy of cgstore (this one was loaded from ${nativeUrl.origin}); ` +
      "use --map <pinned map> with your own program, or run cgstore from a checkout or an npm install");
  }
  const path = join(NATIVE, "build", file);
  if (existsSync(path)) return path;
  const r = spawnSync("make", ["-s", "-C", NATIVE], { stdio: "inherit" });
  if (r.status !== 0 || !existsSync(path)) {
    throw new EnvironmentError(`cannot build ${NATIVE} (needs make, clang and libbpf-dev; npm run demo installs them)`);
  }
  return path;
}
