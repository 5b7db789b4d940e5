/**
 * The fd-leak net (as in cilium/ebpf): a handle dropped without `close()` has its fd or native
 * handle released when the garbage collector collects the handle. An explicit close disarms
 * the net first, so nothing is released twice: an fd number the kernel has since given to
 * another file is never closed by a late finalizer.
 *
 * ```ts
 * constructor(fd: number) { this.fd = fd; closeWhenCollected(this, fd); }
 * close() { if (this.fd < 0) return; disarm(this); libbpf.close(this.fd); this.fd = -1; }
 * ```
 * Collection is not prompt (it may never happen before exit): this catches leaks, it does not
 * replace `close()` / `using`.
 * @internal
 */
import { libbpf } from "./ffi/index.ts";

/** What a registration releases: `release(held)`; `held` must not reference the owner. */
interface Held {
  release: (held: unknown) => void;
  held: unknown;
}

let released = 0;

const registry = new FinalizationRegistry<Held>((h) => {
  released++;
  try {
    h.release(h.held);
  } catch {
    // Nothing to report to: the owner is gone. The resource leaks as it would have anyway.
  }
});

function closeFd(fd: unknown): void {
  libbpf.close(fd as number);
}

/** Closes `fd` (close(2)) once `owner` is collected, unless {@link disarm}ed first. */
export function closeWhenCollected(owner: object, fd: number): void {
  registry.register(owner, { release: closeFd, held: fd }, owner);
}

/**
 * Calls `release(held)` once `owner` is collected, unless {@link disarm}ed first. `release`
 * should be a module-level function and `held` plain data (a native handle, an fd): anything
 * that references `owner` would keep it alive, and it would never be collected.
 */
export function releaseWhenCollected<T>(owner: object, release: (held: T) => void, held: T): void {
  registry.register(owner, { release: release as (held: unknown) => void, held }, owner);
}

/**
 * Cancels every registration of `owner`. Call it in the explicit close, before releasing the
 * resource (JavaScript runs finalizers between tasks, never inside this synchronous close).
 */
export function disarm(owner: object): void {
  registry.unregister(owner);
}

/** How many registrations the collector has released so far (for tests and leak hunting). */
export function releasedByCollector(): number {
  return released;
}
