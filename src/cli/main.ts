#!/usr/bin/env bun
/** The `cgstore` command. */
import { DEMO_HELP } from "./demo.ts";
import { Exit, exitFor, isParseArgsError, UsageError } from "./errors.ts";
import { VERSION } from "./version.ts";
import { setLibbpfLogging } from "../ffi/index.ts";

const HELP = `cgstore: read BPF cgroup local storage maps (cgroup_storage, percpu_cgroup_storage)

Usage:
  cgstore dump <pinned map path> [--per-cpu] [--json] [--watch <seconds>]
  cgstore dump --id <map id> ...
  cgstore serve --config.file <f> | --cgroup <dir> | --map <pin> [--web.listen-address 127.0.0.1:9464]
  cgstore top --cgroup <dir> | --map <pinned map path> [--sort bytes] [-n 20] [--interval 1]
  cgstore demo
  cgstore <command> --help
  cgstore --version

Any command takes --verbose: show libbpf's own messages (warnings, the verifier's log).

Exit codes: 0 ok; 1 the operation failed (not a pinned map, not cgroup storage, a kernel
refusal: any error kind not listed under 3), or a bug (printed with its stack); 2 bad command
line (unknown command or option, a bad value); 3 this machine or user cannot do BPF (error
kinds "environment": no libbpf, no cgroup v2, no bpffs; and "permission": not root, no
CAP_BPF, a file mode); 4 the demo's counts did not agree.`;

/** A command: its entry point and the help printed with its usage errors. */
interface Command {
  run(argv: string[]): Promise<number>;
  help: string;
}

// Loaded on demand, so `cgstore --help` and usage errors need no libbpf.
const COMMANDS: Record<string, () => Promise<Command>> = {
  dump: async () => { const m = await import("./dump.ts"); return { run: m.dump, help: m.DUMP_HELP }; },
  serve: async () => { const m = await import("./serve.ts"); return { run: m.serve, help: m.SERVE_HELP }; },
  top: async () => { const m = await import("./top.ts"); return { run: m.top, help: m.TOP_HELP }; },
  demo: async () => { const m = await import("./demo.ts"); return { run: m.demo, help: DEMO_HELP }; },
};

async function main(args: string[]): Promise<number> {
  // libbpf prints warnings of its own (and the verifier's log) to stderr; cgstore's one-line
  // errors say what failed, so libbpf's voice is only for --verbose.
  const argv = args.filter((a) => a !== "--verbose");
  setLibbpfLogging(argv.length < args.length);
  const [name, ...rest] = argv;
  if (name === "--version" || name === "-V") {
    console.log(`cgstore ${VERSION}`);
    return Exit.OK;
  }
  if (name === undefined || name === "-h" || name === "--help" || name === "help") {
    console.log(HELP);
    return name === undefined ? Exit.USAGE : Exit.OK;
  }
  if (name === "demo" && (rest.includes("-h") || rest.includes("--help"))) {
    console.log(DEMO_HELP);
    return Exit.OK;
  }
  const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (load === undefined) throw new UsageError(`unknown command "${name}"`, HELP);
  const command = await load();
  try {
    return await command.run(rest);
  } catch (e) {
    if (isParseArgsError(e)) throw new UsageError(e.message, command.help);
    throw e;
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  const { code, text } = exitFor(e);
  console.error(`cgstore: ${text}`);
  process.exitCode = code;
}
