#!/usr/bin/env bun
/** The `cgstore` command. */
import { DEMO_HELP } from "./demo.ts";
import { Exit, UsageError, EnvironmentError } from "./errors.ts";

const HELP = `cgstore: read BPF cgroup local storage maps (cgroup_storage, percpu_cgroup_storage)

Usage:
  cgstore dump <pinned map path> [--per-cpu] [--json] [--watch <seconds>]
  cgstore dump --id <map id> ...
  cgstore serve --cgroup <dir> | --map <pinned map path> [--port 9464] [--host 127.0.0.1]
  cgstore top --cgroup <dir> | --map <pinned map path> [--sort bytes] [-n 20] [--interval 1]
  cgstore demo
  cgstore <command> --help

Exit codes: 0 ok; 1 the operation failed (not a pinned map, not cgroup storage, a kernel
refusal); 2 bad command line; 3 this machine or user cannot do BPF (not root, no libbpf, no
cgroup v2); 4 the demo's counts did not agree.`;


async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "-h" || command === "--help" || command === "help") {
    console.log(HELP);
    return command === undefined ? Exit.USAGE : Exit.OK;
  }
  if (command === "demo" && (rest.includes("-h") || rest.includes("--help"))) {
    console.log(DEMO_HELP);
    return Exit.OK;
  }
  if (!["dump", "demo", "serve", "top"].includes(command)) throw new UsageError(`unknown command "${command}"`, HELP);
  try {
    if (command === "dump") return (await import("./dump.ts")).dump(rest);
    if (command === "serve") return (await import("./serve.ts")).serve(rest);
    if (command === "top") return (await import("./top.ts")).top(rest);
    return (await import("./demo.ts")).demo(rest);
  } catch (e) {
    // A module that cannot load (libbpf missing) is an environment problem.
    if ((e as Error).message?.includes("cannot load")) throw new EnvironmentError((e as Error).message.replace(/^cgstore: /, ""));
    throw e;
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  const err = e as Error & { code?: string; hint?: string };
  if (e instanceof UsageError) {
    console.error(`cgstore: ${e.message}\n\n${e.help}`);
    process.exitCode = Exit.USAGE;
  } else if (e instanceof EnvironmentError || (e as { kind?: unknown }).kind === "environment" || /no cgroup v2/.test(err.message)) {
    console.error(`cgstore: ${err.message}`);
    process.exitCode = Exit.ENVIRONMENT;
  } else if (err.name === "BpfError" && /run as root/.test(err.hint ?? "")) {
    console.error(`cgstore: ${err.message}\ncgstore needs root (or CAP_BPF and CAP_NET_ADMIN) to use BPF.`);
    process.exitCode = Exit.ENVIRONMENT;
  } else if (err.name === "BpfError" || err.name === "TypeError" && /parseArgs|option/i.test(err.message)) {
    console.error(`cgstore: ${err.message}`);
    process.exitCode = err.name === "BpfError" ? Exit.FAILED : Exit.USAGE;
  } else {
    console.error(`cgstore: ${err.stack ?? err.message}`);
    process.exitCode = Exit.FAILED;
  }
}
