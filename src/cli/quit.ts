/**
 * How a long-running command (`top`, `dump --watch`) is ended: `q` on a terminal, Ctrl-C, or
 * SIGINT/SIGTERM, all the same way (the command returns and exits 0). On a terminal stdin is
 * put in raw mode to read `q` unbuffered; Ctrl-C then arrives as a byte, not as SIGINT.
 */

/** A stop flag and a sleep that ends early when the user quits. */
export interface Quit extends Disposable {
  readonly stopped: boolean;
  /** Sleeps `ms`, or less if the user quits meanwhile. */
  sleep(ms: number): Promise<void>;
}

const QUIT_KEYS = new Set(["q", "Q", "\x03" /* Ctrl-C in raw mode */, "\x04" /* Ctrl-D */]);

/** Starts listening for the ways to quit; dispose to stop listening (and restore the terminal). */
export function listenForQuit(): Quit {
  let stopped = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopped = true;
    wake?.();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  const stdin = process.stdin;
  const raw = stdin.isTTY === true && typeof stdin.setRawMode === "function";
  const onData = (d: Buffer | string) => {
    for (const ch of d.toString()) if (QUIT_KEYS.has(ch)) stop();
  };
  if (raw) {
    stdin.setRawMode(true);
    stdin.on("data", onData);
    stdin.resume();
  }
  return {
    get stopped() {
      return stopped;
    },
    sleep: (ms) => new Promise<void>((ok) => {
      if (stopped) return ok();
      const timer = setTimeout(() => {
        wake = undefined;
        ok();
      }, ms);
      wake = () => {
        clearTimeout(timer);
        wake = undefined;
        ok();
      };
    }),
    [Symbol.dispose]() {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      if (raw) {
        stdin.off("data", onData);
        stdin.setRawMode(false);
        stdin.pause();
      }
    },
  };
}
