import { createServer, type Server } from 'node:http';

/** What the probes report: live while the schedule runs, ready once a pass has finished. */
export interface Health {
  live: () => boolean;
  ready: () => boolean;
}

/** `/live` and `/ready` (200 or 503) for the long-running mode's probes. */
export async function startHealthServer(
  port: number,
  host: string,
  health: Health,
): Promise<Server> {
  const server = createServer((req, res) => {
    const check =
      req.url === '/live' ? health.live : req.url === '/ready' ? health.ready : undefined;
    if (!check) {
      res.writeHead(404).end('not found\n');
      return;
    }
    const ok = check();
    res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(ok ? 'ok\n' : 'not yet\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return server;
}
