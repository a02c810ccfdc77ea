// The small HTTP client of alerts and pushes, against loopback servers (no cluster).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { send } from './http.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

const servers: Server[] = [];
after(() => {
  for (const s of servers) {
    s.close();
    s.closeAllConnections();
  }
});

async function listen(server: Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** A loopback server that records each request and answers with `respond`. */
async function recorder(
  respond: (res: ServerResponse) => void = (res) => res.writeHead(200).end('ok'),
): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      respond(res);
    });
  });
  return { port: await listen(server), seen };
}

const call = (url: string, extra = {}) => ({
  method: 'POST' as const,
  url: new URL(url),
  headers: { 'Content-Type': 'text/plain' },
  body: 'hello',
  timeoutMs: 5000,
  ...extra,
});

describe('send', () => {
  it('gives up on a server that never answers at its time-out, and closes the connection', async () => {
    let closedAt = 0;
    const server = createServer((req) => {
      req.socket.on('close', () => (closedAt = Date.now()));
    });
    const port = await listen(server);
    const start = Date.now();
    await assert.rejects(
      send(call(`http://127.0.0.1:${port}/hook`, { timeoutMs: 300 })),
      /no answer within 300 ms/,
    );
    assert.ok(Date.now() - start < 1500, `${Date.now() - start} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(closedAt > 0, 'the connection is closed');
  });

  it('follows no redirect', async () => {
    const target = await recorder();
    const redirecting = await recorder((res) =>
      res.writeHead(302, { Location: `http://127.0.0.1:${target.port}/` }).end(),
    );
    const answer = await send(call(`http://127.0.0.1:${redirecting.port}/hook`));
    assert.equal(answer.status, 302);
    assert.equal(target.seen.length, 0);
  });

  it('sends credentials of the URL as a header, never in the request line', async () => {
    const target = await recorder();
    await send(call(`http://user:p%40ss@127.0.0.1:${target.port}/hook?token=t`));
    assert.equal(target.seen[0]?.url, '/hook?token=t');
    assert.equal(
      target.seen[0].headers.authorization,
      `Basic ${Buffer.from('user:p@ss').toString('base64')}`,
    );
    assert.equal(target.seen[0].body, 'hello');
  });

  it('a refused connection names the origin only, not the path with its token', async () => {
    const port = await listen(createServer());
    servers.at(-1)?.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const err = await send(call(`http://127.0.0.1:${port}/services/T0/B0/secret-token`)).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof Error);
    assert.doesNotMatch(err.message, /secret-token/);
  });

  it('through an http:// proxy: an absolute-form request for an http:// target', async () => {
    const proxy = await recorder();
    await send(
      call('http://hooks.invalid:8080/hook', {
        proxy: new URL(`http://u:pw@127.0.0.1:${proxy.port}`),
      }),
    );
    const seen = proxy.seen[0];
    assert.equal(seen?.method, 'POST');
    assert.equal(seen.url, 'http://hooks.invalid:8080/hook');
    assert.equal(seen.headers.host, 'hooks.invalid:8080');
    assert.equal(
      seen.headers['proxy-authorization'],
      `Basic ${Buffer.from('u:pw').toString('base64')}`,
    );
    assert.equal(seen.body, 'hello');
  });

  it('through an http:// proxy: a CONNECT tunnel for an https:// target, TLS end to end', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'polling-reloader-tls-'));
    t.after(() => {
      rmSync(dir, { recursive: true, force: true });
    });
    const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-subj',
        '/CN=hooks.invalid',
        '-addext',
        'subjectAltName=DNS:hooks.invalid',
        '-days',
        '1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    const seen: string[] = [];
    const target = createHttpsServer(
      { key: readFileSync(key), cert: readFileSync(cert) },
      (req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          seen.push(`${req.method ?? ''} ${req.url ?? ''} ${body}`);
          res.writeHead(200).end();
        });
      },
    );
    const targetPort = await listen(target);
    const tunnels: string[] = [];
    const proxy = createServer((_req, res) => res.writeHead(405).end());
    proxy.on('connect', (req: IncomingMessage, client: Socket) => {
      tunnels.push(req.url ?? '');
      const upstream = connect(targetPort, '127.0.0.1', () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.pipe(client);
        client.pipe(upstream);
      });
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    const proxyPort = await listen(proxy);
    const answer = await send(
      // A name that resolves nowhere: only the proxy, which connects to the loopback, reaches it.
      call(`https://hooks.invalid:${targetPort}/hook`, {
        proxy: new URL(`http://127.0.0.1:${proxyPort}`),
        ca: readFileSync(cert, 'utf8'),
      }),
    );
    assert.equal(answer.status, 200);
    assert.deepEqual(tunnels, [`hooks.invalid:${targetPort}`]);
    assert.deepEqual(seen, ['POST /hook hello']);
  });
});
