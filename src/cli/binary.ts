/**
 * Entry point of the standalone executable (`npm run build:binary` → `dist/cgstore`, made by
 * `bun build --compile` with the BPF objects embedded; see `bundledObject`). The binary is its
 * own traffic child for the demo: run with {@link TRAFFIC_ARG} first, it only sends traffic,
 * since there is no runtime or script file to start a child from.
 */
import { TRAFFIC_ARG, udpTrafficMain } from "./udp-traffic.ts";

if (process.argv[2] === TRAFFIC_ARG) process.exitCode = await udpTrafficMain(process.argv.slice(3));
else await import("./main.ts");
