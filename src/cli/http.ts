/**
 * The HTTP(S) server for `cgstore serve` on the running runtime's own server (`Bun.serve` or
 * `Deno.serve`): both take a fetch-style handler and PEM certificates, so the exporter is
 * written once.
 * @internal
 */
import { runtime } from "../ffi/index.ts";
import { EnvironmentError } from "./errors.ts";

export interface HttpServer {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  /** Stops listening (Bun closes open connections at once; Deno lets requests in flight finish). */
  stop(): Promise<void>;
}

export interface HttpOptions {
  hostname: string;
  port: number;
  /** PEM certificate chain and key: serve HTTPS. */
  tls?: { cert: string; key: string };
  fetch: (req: Request) => Response | Promise<Response>;
}

interface DenoServe {
  serve(
    options: { hostname: string; port: number; cert?: string; key?: string; onListen?: () => void },
    handler: (req: Request) => Response | Promise<Response>,
  ): { addr: { port: number }; shutdown(): Promise<void> };
}

interface BunServe {
  serve(options: {
    hostname: string; port: number; tls?: { cert: string; key: string };
    fetch: (req: Request) => Response | Promise<Response>;
  }): { port?: number; stop(closeActive: boolean): Promise<void> | void };
}

/** A listen error as the one line an operator needs (exit 3), not a stack trace. */
function listenError(e: unknown, options: HttpOptions): unknown {
  const text = `${(e as Error)?.message ?? e} ${(e as { code?: string })?.code ?? ""} ${(e as Error)?.name ?? ""}`;
  const where = `${options.hostname.includes(":") ? `[${options.hostname}]` : options.hostname}:${options.port}`;
  if (/EADDRINUSE|AddrInUse|in use/i.test(text)) return new EnvironmentError(`cannot listen on ${where}: the address is already in use`);
  if (/EADDRNOTAVAIL|AddrNotAvailable|EACCES|PermissionDenied|ENOTFOUND|getaddrinfo/i.test(text)) {
    return new EnvironmentError(`cannot listen on ${where}: ${(e as Error)?.message ?? e}`);
  }
  return e;
}

/** Starts listening; resolves once the port is bound. */
export async function serveHttp(options: HttpOptions): Promise<HttpServer> {
  try {
    if (runtime === "deno") {
      const Deno = (globalThis as unknown as { Deno: DenoServe }).Deno;
      const server = Deno.serve(
        { hostname: options.hostname, port: options.port, ...options.tls, onListen: () => {} },
        options.fetch,
      );
      return { port: server.addr.port, stop: () => server.shutdown() };
    }
    const Bun = (globalThis as unknown as { Bun: BunServe }).Bun;
    const server = Bun.serve({ hostname: options.hostname, port: options.port, tls: options.tls, fetch: options.fetch });
    return {
      port: server.port ?? options.port,
      stop: async () => {
        await server.stop(true);
      },
    };
  } catch (e) {
    throw listenError(e, options);
  }
}

/** `host:port`, `[v6]:port` or `:port` (every address) as a hostname and a port. */
export function parseListenAddress(address: string): { hostname: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(address);
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  const host = m[1] ?? m[2]!;
  return { hostname: host === "" ? "0.0.0.0" : host, port };
}
