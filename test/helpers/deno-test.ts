/**
 * The slice of `bun:test` our tests use, on top of `Deno.test`, so one set of test files runs
 * under both runtimes (JSR's @std/testing is not reachable from this project's registries; the
 * matchers are Jest's own `expect` from npm, which `bun:test`'s expect mirrors).
 *
 * Shape: every top-level `describe` becomes one `Deno.test` whose tests and nested describes
 * are steps, so beforeAll/afterAll run around them naturally and skipped tests show as ignored
 * steps; top-level tests are their own `Deno.test`. File-level hooks (the preload's
 * `afterAll(cleanup)`) run before the first and after the last item of the file that runs.
 * Deno's op/resource sanitizers are off: the tests own raw fds and child processes on purpose.
 */
import { expect } from "expect";

export { expect };

type Fn = () => unknown;
type Hooks = Record<"beforeAll" | "afterAll" | "beforeEach" | "afterEach", Fn[]>;
interface Case { kind: "test"; name: string; fn: Fn; skip: boolean; timeout: number }
interface Suite { kind: "suite"; name: string; parent: Suite | null; hooks: Hooks; items: Item[]; skip: boolean }
type Item = Case | Suite;

interface StepContext {
  step(def: { name: string; fn: (t: StepContext) => Promise<void>; ignore?: boolean } & Sanitizers): Promise<boolean>;
}
interface Sanitizers { sanitizeOps: false; sanitizeResources: false; sanitizeExit: false }
interface DenoTest {
  test(def: { name: string; fn: (t: StepContext) => Promise<void>; ignore?: boolean } & Sanitizers): void;
}
const Deno = (globalThis as unknown as { Deno: DenoTest }).Deno;
const NO_SANITIZERS: Sanitizers = { sanitizeOps: false, sanitizeResources: false, sanitizeExit: false };

/** `bun test --timeout` in package.json: the same default here. */
const DEFAULT_TIMEOUT = 60_000;

const newSuite = (name: string, parent: Suite | null, skip: boolean): Suite => ({
  kind: "suite", name, parent, skip, items: [],
  hooks: { beforeAll: [], afterAll: [], beforeEach: [], afterEach: [] },
});
const root = newSuite("", null, false);
let current = root;
/** Top-level items in file order, and which of them will actually run (for file-level hooks). */
const topLevel: Item[] = [];

const runs = (item: Item): boolean =>
  !item.skip && (item.kind === "test" || item.items.some(runs));

async function withTimeout(fn: Fn, ms: number, name: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`test "${name}" timed out after ${ms} ms`)), ms);
  });
  try {
    await Promise.race([Promise.resolve().then(fn), expired]);
  } finally {
    clearTimeout(timer);
  }
}

function chain(suite: Suite): Suite[] {
  const out: Suite[] = [];
  for (let s: Suite | null = suite; s; s = s.parent) out.unshift(s);
  return out;
}

async function runCase(c: Case, suite: Suite): Promise<void> {
  const suites = chain(suite);
  const after = suites.slice().reverse().flatMap((s) => s.hooks.afterEach);
  try {
    for (const h of suites.flatMap((s) => s.hooks.beforeEach)) await h();
    await withTimeout(c.fn, c.timeout, c.name);
  } finally {
    // Like bun:test, every afterEach runs even when the test (or another hook) failed;
    // the first error wins.
    let first: unknown;
    for (const h of after) {
      try {
        await h();
      } catch (e) {
        first ??= e;
      }
    }
    if (first !== undefined) throw first;
  }
}

async function runSuite(t: StepContext, suite: Suite): Promise<void> {
  try {
    // Inside the try, as in bun:test: afterAll runs even when a beforeAll failed halfway.
    for (const h of suite.hooks.beforeAll) await h();
    for (const item of suite.items) {
      await t.step({
        name: item.name,
        ignore: !runs(item),
        fn: (inner) => (item.kind === "test" ? runCase(item, suite) : runSuite(inner, item)),
        ...NO_SANITIZERS,
      });
    }
  } finally {
    for (const h of suite.hooks.afterAll) await h();
  }
}

/** Registers a top-level item; file-level hooks wrap the first and last that run. */
function register(item: Item): void {
  topLevel.push(item);
  Deno.test({
    name: item.name,
    ignore: !runs(item),
    ...NO_SANITIZERS,
    fn: async (t) => {
      const live = topLevel.filter(runs);
      try {
        if (item === live[0]) for (const h of root.hooks.beforeAll) await h();
        if (item.kind === "test") await runCase(item, root);
        else await runSuite(t, item);
      } finally {
        if (item === live[live.length - 1]) for (const h of root.hooks.afterAll) await h();
      }
    },
  });
}

function add(item: Item): void {
  if (current === root) register(item);
  else current.items.push(item);
}

function makeDescribe(skip: boolean) {
  return (name: string, body: () => void): void => {
    const suite = newSuite(name, current, skip || current.skip);
    const parent = current;
    current = suite;
    try {
      body();
    } finally {
      current = parent;
    }
    add(suite);
  };
}

function makeTest(skip: boolean) {
  return (name: string, fn: Fn, timeout = DEFAULT_TIMEOUT): void => {
    add({ kind: "test", name, fn, skip: skip || current.skip, timeout });
  };
}

/** bun:test's `%p`/`%s`/`%d`/`%i`/`%j` placeholders in `test.each` names. */
function format(name: string, args: unknown[]): string {
  let i = 0;
  return name.replace(/%[psdij]/g, (spec) => {
    const v = args[i++];
    if (spec === "%j") return JSON.stringify(v);
    if (spec === "%p") return typeof v === "bigint" ? `${v}n` : typeof v === "string" ? JSON.stringify(v) : String(v);
    return String(v);
  });
}

export const describe = Object.assign(makeDescribe(false), {
  skip: makeDescribe(true),
  skipIf: (cond: boolean) => makeDescribe(cond),
  if: (cond: boolean) => makeDescribe(!cond),
});

export const test = Object.assign(makeTest(false), {
  skip: makeTest(true),
  skipIf: (cond: boolean) => makeTest(cond),
  if: (cond: boolean) => makeTest(!cond),
  each: <T>(table: readonly T[]) => (name: string, fn: (...args: unknown[]) => unknown, timeout?: number) => {
    for (const row of table) {
      const args = Array.isArray(row) ? row : [row];
      makeTest(false)(format(name, args), () => fn(...args), timeout);
    }
  },
});

const hook = (kind: keyof Hooks) => (fn: Fn): void => {
  current.hooks[kind].push(fn);
};
export const beforeAll = hook("beforeAll");
export const afterAll = hook("afterAll");
export const beforeEach = hook("beforeEach");
export const afterEach = hook("afterEach");
