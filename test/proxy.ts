// A loopback TCP proxy in front of the API server that injects faults into the real traffic: it
// passes TLS through untouched, so the program under test talks to the real server, and the proxy
// only delays, resets, stalls, black-holes or cuts what flows.
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';

/**
 * What happens to the traffic that follows a client write (one request, with TLS and keep-alive):
 * `pass` forwards it; `reset` destroys the connection at once; `stall` forwards the request but
 * never lets an answer back; `blackhole` lets nothing through either way; `cut` closes the
 * connection after part of the answer; `trickle` lets the answer through slowly (`trickle` below).
 */
export type Fault = 'pass' | 'reset' | 'stall' | 'blackhole' | 'cut' | 'trickle';

export class FaultProxy {
  /** Chooses the fault for each client write; `pass` unless a test says otherwise. */
  choose: () => Fault = () => 'pass';
  /** Delay of every client write before it is forwarded, in ms. */
  delayMs = 0;
  /** The pace of a trickled answer: this many bytes at a time, every this many ms. */
  trickle = { bytes: 16, everyMs: 100 };
  readonly counts: Record<Fault, number> = {
    pass: 0,
    reset: 0,
    stall: 0,
    blackhole: 0,
    cut: 0,
    trickle: 0,
  };
  connections = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Listens on a free loopback port and forwards to `host:port`. */
  static async start(target: { host: string; port: number }): Promise<FaultProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('proxy has no port');
    const proxy = new FaultProxy(server, address.port);
    server.on('connection', (client) => {
      proxy.accept(client, target);
    });
    return proxy;
  }

  /**
   * A copy of a kubeconfig whose server is this proxy (the server's certificate is for 127.0.0.1,
   * so TLS still verifies), written beside `dir`.
   */
  kubeconfig(adminPath: string, dir: string): string {
    const text = readFileSync(adminPath, 'utf8').replace(
      /server: https:\/\/127\.0\.0\.1:\d+/,
      `server: https://127.0.0.1:${this.port}`,
    );
    const path = join(dir, `proxy-${this.port}.kubeconfig`);
    writeFileSync(path, text);
    return path;
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) =>
      this.server.close(() => {
        resolve();
      }),
    );
  }

  private accept(client: Socket, target: { host: string; port: number }): void {
    this.connections++;
    const upstream = connect(target.port, target.host);
    const link = { fault: 'pass' as Fault, answered: 0 };
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        this.sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk: Buffer) => {
      link.fault = this.choose();
      this.counts[link.fault]++;
      if (link.fault === 'reset') {
        client.resetAndDestroy();
        return;
      }
      if (link.fault === 'blackhole') return;
      link.answered = 0;
      setTimeout(() => upstream.write(chunk), this.delayMs);
    });
    const trickled: Buffer[] = [];
    const drip = setInterval(() => {
      const chunk = trickled.shift();
      if (!chunk) return;
      const { bytes } = this.trickle;
      client.write(chunk.subarray(0, bytes));
      if (chunk.length > bytes) trickled.unshift(chunk.subarray(bytes));
    }, this.trickle.everyMs);
    client.on('close', () => {
      clearInterval(drip);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (link.fault === 'trickle') {
        trickled.push(chunk);
        return;
      }
      if (link.fault === 'stall' || link.fault === 'blackhole') return;
      if (link.fault === 'cut' && link.answered > 0) {
        client.destroy();
        return;
      }
      link.answered += chunk.length;
      client.write(chunk);
    });
  }
}

/** Where the admin kubeconfig's server listens. */
export function serverOf(adminPath: string): { host: string; port: number } {
  const match = /server: https:\/\/(127\.0\.0\.1):(\d+)/.exec(readFileSync(adminPath, 'utf8'));
  if (!match?.[1] || !match[2]) throw new Error(`no loopback server in ${adminPath}`);
  return { host: match[1], port: Number(match[2]) };
}
