/**
 * A loopback HTTP server for `cgstore serve` on the running runtime's own server (`Bun.serve`
 * or `Deno.serve`): both take a fetch-style handler, so the exporter is written once.
 * @internal
 */
import { runtime } from "../ffi/index.ts";

export interface HttpServer {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  /** Stops listening (Bun closes open connections at once; Deno lets requests in flight finish). */
  stop(): Promise<void>;
}

export interface HttpOptions {
  hostname: string;
  port: number;
  fetch: (req: Request) => Response | Promise<Response>;
}

interface DenoServe {
  serve(
    options: { hostname: string; port: number; onListen?: () => void },
    handler: (req: Request) => Response | Promise<Response>,
  ): { addr: { port: number }; shutdown(): Promise<void> };
}

interface BunServe {
  serve(options: HttpOptions): { port?: number; stop(closeActive: boolean): Promise<void> | void };
}

/** Starts listening; resolves once the port is bound. */
export async function serveHttp(options: HttpOptions): Promise<HttpServer> {
  if (runtime === "deno") {
    const Deno = (globalThis as unknown as { Deno: DenoServe }).Deno;
    const server = Deno.serve({ hostname: options.hostname, port: options.port, onListen: () => {} }, options.fetch);
    return { port: server.addr.port, stop: () => server.shutdown() };
  }
  const Bun = (globalThis as unknown as { Bun: BunServe }).Bun;
  const server = Bun.serve({ hostname: options.hostname, port: options.port, fetch: options.fetch });
  return {
    port: server.port ?? options.port,
    stop: async () => {
      await server.stop(true);
    },
  };
}
