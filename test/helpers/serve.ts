/** Starting `cgstore serve` for tests. */
import type { ChildProcess } from "node:child_process";
import { spawnCli } from "./env.ts";

/** Starts `cgstore serve` on a free port; resolves with the process and its base URL. */
export async function startServe(args: string[]): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawnCli(["serve", "--web.listen-address", "127.0.0.1:0", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  proc.stderr!.on("data", (d: Buffer) => (err += d));
  const url = await new Promise<string>((ok, fail) => {
    proc.stdout!.on("data", (d: Buffer) => {
      const m = /(http:\/\/\S+)\/metrics/.exec(d.toString());
      if (m) ok(m[1]!);
    });
    proc.once("exit", (code) => fail(new Error(`serve exited ${code}: ${err}`)));
  });
  return { proc, url };
}
