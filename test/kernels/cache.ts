/** The matrix's download and build cache, outside the repository so every checkout shares it. */
import { mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/**
 * `$CGSTORE_CACHE`, else `$XDG_CACHE_HOME/cgstore`, else `~/.cache/cgstore`, plus `sub`;
 * created if missing.
 */
export function cacheDir(sub: string): string {
  const base = process.env.CGSTORE_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "cgstore");
  const dir = join(base, sub);
  mkdirSync(dir, { recursive: true });
  return dir;
}
