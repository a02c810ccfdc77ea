import type { ClientRequest, IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** Not an ES import: that would load what node:http loads lazily (see src/api.ts). */
const { request: httpRequest } = process.getBuiltinModule('node:http');

/**
 * One HTTP request to something outside the cluster (an alert webhook, a Pushgateway): a time-out
 * on the whole exchange, no redirects followed, and an optional `http://` proxy. Its URL is never
 * put in an error message, since a webhook URL holds a token: only its origin is.
 */
export interface HttpCall {
  method: 'POST' | 'PUT';
  url: URL;
  headers?: Record<string, string>;
  body: string;
  /** The whole exchange (the proxy's tunnel included) is abandoned after this long. */
  timeoutMs: number;
  /** An `http://` proxy: absolute-form requests for `http://` targets, a CONNECT tunnel for `https://`. */
  proxy?: URL | undefined;
  /** Certificate authorities to trust for an `https://` target, instead of Node's (tests). */
  ca?: string | undefined;
}

/** The status of the answer, and the beginning of its body. */
export interface HttpAnswer {
  status: number;
  body: string;
}

/** Where a request went, fit for a log line: the origin, without path, query or credentials. */
export function origin(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

/** Sends one request; rejects on a network fault or when `timeoutMs` passes, whatever the status. */
export async function send(call: HttpCall): Promise<HttpAnswer> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const err = new Error(`${origin(call.url)}: no answer within ${call.timeoutMs} ms`);
      controller.abort(err);
      reject(err);
    }, call.timeoutMs);
  });
  try {
    return await Promise.race([exchange(call, controller.signal), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** A host name as `http.request` wants it: an IPv6 address without its brackets. */
function bare(hostname: string): string {
  return hostname.replace(/^\[(.*)\]$/, '$1');
}

function basic(url: URL): string | undefined {
  if (!url.username && !url.password) return undefined;
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** The target without its credentials, which go in a header instead. */
function withoutCredentials(url: URL): URL {
  const clean = new URL(url.href);
  clean.username = '';
  clean.password = '';
  return clean;
}

async function exchange(call: HttpCall, signal: AbortSignal): Promise<HttpAnswer> {
  const target = withoutCredentials(call.url);
  const auth = basic(call.url);
  const headers: Record<string, string> = {
    'User-Agent': 'polling-reloader',
    ...call.headers,
    'Content-Length': String(Buffer.byteLength(call.body)),
    ...(auth && { Authorization: auth }),
  };
  const options = { method: call.method, headers, signal, agent: false as const };
  const { proxy } = call;
  let req: ClientRequest;
  if (proxy && target.protocol === 'http:') {
    const proxyAuth = basic(proxy);
    req = httpRequest({
      ...options,
      host: bare(proxy.hostname),
      port: proxy.port || 80,
      path: target.href,
      headers: {
        ...headers,
        Host: target.host,
        ...(proxyAuth && { 'Proxy-Authorization': proxyAuth }),
      },
    });
  } else if (proxy) {
    const socket = await tunnel(proxy, target, signal);
    const host = bare(target.hostname);
    // No agent: a request with an agent would connect by itself, not through the tunnel.
    req = httpsRequest(target, {
      method: call.method,
      headers,
      signal,
      createConnection: () =>
        tlsConnect({ socket, host, ca: call.ca, ...(isIP(host) === 0 && { servername: host }) }),
    });
  } else {
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    req = send(target, { ...options, ...(call.ca && { ca: call.ca }) });
  }
  return answer(req, call.body);
}

/** A CONNECT tunnel through the proxy to the target's host and port. */
function tunnel(proxy: URL, target: URL, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const authority = `${target.hostname}:${target.port || '443'}`;
    const proxyAuth = basic(proxy);
    const req = httpRequest({
      host: bare(proxy.hostname),
      port: proxy.port || 80,
      method: 'CONNECT',
      path: authority,
      headers: { Host: authority, ...(proxyAuth && { 'Proxy-Authorization': proxyAuth }) },
      signal,
      agent: false,
    });
    req.once('connect', (res: IncomingMessage, socket: Socket) => {
      if (res.statusCode === 200) {
        resolve(socket);
        return;
      }
      socket.destroy();
      reject(
        new Error(`the proxy ${origin(proxy)} refused the tunnel: HTTP ${res.statusCode ?? 0}`),
      );
    });
    req.once('error', reject);
    req.end();
  });
}

/** The most of an answer's body that is kept (for a log line). */
const keptBody = 2000;

function answer(req: ClientRequest, body: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < keptBody) chunks.push(chunk);
        size += chunk.length;
      });
      res.once('error', reject);
      res.once('end', () => {
        const text = Buffer.concat(chunks).toString('utf8').slice(0, keptBody);
        resolve({ status: res.statusCode ?? 0, body: text });
      });
    });
    req.end(body);
  });
}
