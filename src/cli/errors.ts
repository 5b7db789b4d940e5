/** CLI exit codes, and how an error picks one (from its `kind`, never from its message). */
import { BpfError, errorKind } from "../errors.ts";

/** Documented in `cgstore --help`. */
export const Exit = {
  OK: 0,
  /** The operation failed: any cgstore error but the two below (not a pin, a kernel refusal …), or a bug. */
  FAILED: 1,
  /** Bad command line. */
  USAGE: 2,
  /** This machine or user cannot do BPF: errors of kind `environment` or `permission`. */
  ENVIRONMENT: 3,
  /** The demo's numbers did not add up. */
  MISMATCH: 4,
} as const;

export type ExitCode = (typeof Exit)[keyof typeof Exit];

/** A bad command line: reported with the command's help, exit 2. */
export class UsageError extends Error {
  override readonly name: string = "UsageError";
  readonly help: string;
  constructor(message: string, help: string) {
    super(message);
    this.help = help;
  }
}

/** Something the CLI itself needs and this machine lacks (e.g. the bundled programs): exit 3. */
export class EnvironmentError extends BpfError {
  override readonly name: string = "EnvironmentError";
  constructor(message: string) {
    super("load", message, { kind: "environment" });
  }
}

/** node:util parseArgs' own refusals (unknown option, missing value …): TypeErrors with a code. */
export function isParseArgsError(e: unknown): e is TypeError & { code: string } {
  const code = e instanceof TypeError ? (e as unknown as { code?: unknown }).code : undefined;
  return typeof code === "string" && code.startsWith("ERR_PARSE_ARGS_");
}

/** What the CLI prints for an error and the code it exits with. */
export function exitFor(e: unknown): { code: ExitCode; text: string } {
  if (e instanceof UsageError) return { code: Exit.USAGE, text: `${e.message}\n\n${e.help}` };
  const kind = errorKind(e);
  const message = e instanceof Error ? e.message : String(e);
  // One line saying what is missing: the message (and its hint) is the whole story, not a stack.
  if (kind === "environment" || kind === "permission") return { code: Exit.ENVIRONMENT, text: message };
  if (kind !== undefined) return { code: Exit.FAILED, text: message };
  // Not cgstore's: a bug, reported with its stack.
  return { code: Exit.FAILED, text: e instanceof Error ? e.stack ?? message : message };
}
