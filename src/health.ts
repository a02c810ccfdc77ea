import type { Server, ServerResponse } from 'node:http';
import { message } from './errors.js';

/** Not an ES import: that would load what node:http loads lazily (see src/api.ts). */
const { createServer } = process.getBuiltinModule('node:http');

/** What the probes report: live while the schedule runs, ready once a pass has finished. */
export interface Health {
  live: () => boolean;
  ready: () => boolean;
  /** `/metrics`, in Prometheus's text format; 404 when absent. */
  metrics?: (() => Promise<{ contentType: string; text: string }>) | undefined;
}

/** Where a server listens: a port, on one address or (no host) on all of them. */
export interface ListenAddress {
  host?: string | undefined;
  port: number;
}

/** `host:port`, `[v6]:port` or `:port` (every address), as a person writes it. */
export function formatAddress({ host, port }: ListenAddress): string {
  if (host === undefined) return `:${port}`;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function probe(res: ServerResponse, check: () => boolean): void {
  const ok = check();
  res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(ok ? 'ok\n' : 'not yet\n');
}

/**
 * `/live` and `/ready` (200 or 503) for the long-running mode's probes, and `/metrics` beside
 * them when asked, as Reloader serves `/live` beside `/metrics`.
 */
export async function startHealthServer(listen: ListenAddress, health: Health): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/live') probe(res, health.live);
    else if (path === '/ready') probe(res, health.ready);
    else if (path === '/metrics' && health.metrics) {
      health.metrics().then(
        ({ contentType, text }) => res.writeHead(200, { 'Content-Type': contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(`${message(err)}\n`),
      );
    } else res.writeHead(404).end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, resolve);
  });
  return server;
}
