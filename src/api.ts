import type { Agent as HttpAgent, ClientRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { ApiError, statusOf } from './errors.js';
import type { Connection } from './kubeconfig.js';

/**
 * node:http as its CommonJS module: an ES import of it reads every export, and its lazy ones (the
 * WebSocket classes) load undici, the web streams, perf_hooks and http2, which no request uses
 * (3.4 MiB of the bundle's resident memory at start).
 */
const http = process.getBuiltinModule('node:http');

/** Lists of metadata only: names, uids, resourceVersions and annotations, never data. */
export const metadataListAccept =
  'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';

/** The API server's protobuf encoding (see src/metadata-protobuf.ts). */
const protobufType = 'application/vnd.kubernetes.protobuf';

/** The same lists, in protobuf first (JSON from a server that cannot encode them so). */
export const metadataListProtobufAccept = `${protobufType};as=PartialObjectMetadataList;g=meta.k8s.io;v=v1, ${metadataListAccept}`;

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  contentType?: string;
  accept?: string;
  /**
   * Safe to send again: retried with backoff on network faults, 429 and 5xx. GETs always are;
   * a write is only when its caller says so (it carries a precondition, or has no effect).
   */
  idempotent?: boolean;
  /** Reads an answer in protobuf, which `accept` may ask for; any other answer is read as JSON. */
  protobuf?: ((body: Buffer) => unknown) | undefined;
  /** Overrides the client's time-out and number of attempts for this request. */
  timeoutMs?: number;
  attempts?: number;
  /**
   * When set (epoch ms), this request and its retries stop then, as they do at the client's own
   * `deadline` (the earlier of the two counts).
   */
  deadline?: number | undefined;
}

/** What the client has done so far: for logs, metrics and the benchmark. */
export interface ApiStats {
  requests: number;
  /** Response bytes as received (compressed when the server compressed them). */
  bytesRead: number;
  /** TLS (or TCP) connections opened: one per pass is the aim, kept alive between passes. */
  connections: number;
}

export interface ApiPolicy {
  /** A request that has sent or received nothing for this long is abandoned. */
  timeoutMs: number;
  attempts: number;
  baseDelayMs: number;
}

const defaultPolicy: ApiPolicy = { timeoutMs: 30_000, attempts: 4, baseDelayMs: 250 };

/**
 * A small Kubernetes API client: one keep-alive agent for every request of the process, gzip,
 * a time-out on every request, retries of what is safe to repeat, and plain JSON in and out (no
 * model classes to build for lists of thousands of objects).
 */
export class Api {
  readonly stats: ApiStats = { requests: 0, bytesRead: 0, connections: 0 };
  /**
   * When set (epoch ms), no request starts after it and none waits past it: the deadline of a
   * pass, so that a pass never hangs, whatever the network does.
   */
  deadline: number | undefined;
  private readonly base: URL;
  private readonly agent: HttpAgent;
  private readonly sockets = new WeakSet<Socket>();

  constructor(
    readonly connection: Connection,
    private readonly policy: ApiPolicy = defaultPolicy,
  ) {
    this.base = new URL(connection.server);
    const options = { keepAlive: true, maxSockets: 4 };
    this.agent =
      this.base.protocol === 'http:'
        ? new http.Agent(options)
        : new HttpsAgent({ ...options, ...connection.tls });
  }

  /** Sends one request and parses the JSON answer; a non-2xx answer throws an ApiError. */
  async request<T>(options: RequestOptions): Promise<T> {
    const retry = (options.method ?? 'GET') === 'GET' || options.idempotent === true;
    const attempts = options.attempts ?? this.policy.attempts;
    const deadline = Math.min(options.deadline ?? Infinity, this.deadline ?? Infinity);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once<T>(options, deadline);
      } catch (err) {
        if (!retry || attempt >= attempts || !transient(err) || Date.now() >= deadline) throw err;
        await sleep(this.policy.baseDelayMs * 2 ** (attempt - 1));
      }
    }
  }

  /** Closes the kept-alive connections, so that a process that is done can exit at once. */
  close(): void {
    this.agent.destroy();
  }

  private async once<T>(options: RequestOptions, deadline: number): Promise<T> {
    const method = options.method ?? 'GET';
    const url = this.url(options);
    if (Date.now() >= deadline)
      throw new DeadlineExceeded(`${method} ${url.pathname}: past its deadline`);
    const left = deadline - Date.now();
    const timeoutMs = Math.min(options.timeoutMs ?? this.policy.timeoutMs, left);
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers = await this.headers(options, body);
    this.stats.requests++;
    const send = url.protocol === 'http:' ? http.request : httpsRequest;
    const req = send(url, { method, headers, agent: this.agent });
    const response = await this.exchange(req, body, `${method} ${url.pathname}`, {
      timeoutMs,
      deadline,
    });
    const protobuf = response.contentType.startsWith(protobufType);
    if (response.status < 200 || response.status >= 300) {
      // A Status in protobuf says nothing readable as text: its HTTP status says it all.
      const text = protobuf ? '' : response.body.toString('utf8');
      throw new ApiError(response.status, text, `${method} ${url.pathname}`);
    }
    if (protobuf && options.protobuf) return options.protobuf(response.body) as T;
    const text = response.body.toString('utf8');
    return (text ? JSON.parse(text) : {}) as T;
  }

  private async headers(
    options: RequestOptions,
    body: string | undefined,
  ): Promise<Record<string, string>> {
    const headers: Record<string, string> = {
      ...(await this.connection.credentials()),
      Accept: options.accept ?? 'application/json',
      'Accept-Encoding': 'gzip',
      'User-Agent': 'polling-reloader',
    };
    if (body !== undefined) {
      headers['Content-Type'] = options.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    return headers;
  }

  private url(options: RequestOptions): URL {
    const url = new URL(this.base.pathname.replace(/\/$/, '') + options.path, this.base);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined && value !== '') url.searchParams.set(key, String(value));
    }
    return url;
  }

  private exchange(
    req: ClientRequest,
    body: string | undefined,
    what: string,
    { timeoutMs, deadline }: { timeoutMs: number; deadline: number },
  ): Promise<{ status: number; contentType: string; body: Buffer }> {
    return new Promise((resolve, reject) => {
      req.setTimeout(timeoutMs, () => {
        req.destroy(new Error(`${what}: no answer within ${Math.round(timeoutMs)} ms`));
      });
      // The time-out above is an idle one: an answer that keeps trickling in would outlast it.
      const cut = Number.isFinite(deadline)
        ? setTimeout(() => {
            reject(new DeadlineExceeded(`${what}: still answering at its deadline`));
            req.destroy();
          }, deadline - Date.now()).unref()
        : undefined;
      req.on('close', () => {
        clearTimeout(cut);
      });
      req.on('socket', (socket) => {
        if (this.sockets.has(socket)) return;
        this.sockets.add(socket);
        this.stats.connections++;
      });
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => {
          this.stats.bytesRead += chunk.length;
          chunks.push(chunk);
        });
        res.on('error', reject);
        res.on('end', () => {
          // Decompressed at once, on this thread, and read by the caller at once: each page's
          // buffers are garbage before the next page is asked for (the asynchronous gunzip kept
          // far more of them waiting for a collection: 18 MiB at the end of a 20k-object
          // listing, against 3 to 9).
          try {
            const raw = Buffer.concat(chunks);
            const gzipped = res.headers['content-encoding'] === 'gzip';
            const body = gzipped ? gunzipSync(raw) : raw;
            const contentType = res.headers['content-type'] ?? '';
            resolve({ status: res.statusCode ?? 0, contentType, body });
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        });
      });
      req.end(body);
    });
  }
}

/** A request not sent, or abandoned, because the pass ran past its deadline. */
export class DeadlineExceeded extends Error {
  override name = 'DeadlineExceeded';
}

/** Faults worth another try: the network, throttling, the server's own errors. */
export function transient(err: unknown): boolean {
  const status = statusOf(err);
  if (status === undefined) return !(err instanceof SyntaxError || err instanceof DeadlineExceeded);
  return status === 429 || (status >= 500 && status !== 501);
}

/** An API resource: its group ('' for the core group), version and plural name. */
export interface ResourceType {
  group: string;
  version: string;
  plural: string;
}

export const resources = {
  configMaps: { group: '', version: 'v1', plural: 'configmaps' },
  secrets: { group: '', version: 'v1', plural: 'secrets' },
  namespaces: { group: '', version: 'v1', plural: 'namespaces' },
  leases: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases' },
  secretProviderClassPodStatuses: {
    group: 'secrets-store.csi.x-k8s.io',
    version: 'v1',
    plural: 'secretproviderclasspodstatuses',
  },
  events: { group: 'events.k8s.io', version: 'v1', plural: 'events' },
  selfSubjectAccessReviews: {
    group: 'authorization.k8s.io',
    version: 'v1',
    plural: 'selfsubjectaccessreviews',
  },
} satisfies Record<string, ResourceType>;

/** The path of a collection (no name) or of one object, namespaced or cluster-wide. */
export function resourcePath(type: ResourceType, namespace?: string, name?: string): string {
  const root = type.group ? `/apis/${type.group}/${type.version}` : `/api/${type.version}`;
  const ns = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${root}${ns}/${type.plural}${name ? `/${encodeURIComponent(name)}` : ''}`;
}

export interface ListPage<T> {
  items?: T[] | null;
  metadata?: { continue?: string };
}

export interface ListOptions {
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  pageSize?: number;
  accept?: string;
  /** Reads a page in protobuf (which `accept` then asks for) as its JSON would read. */
  protobuf?: ((body: Buffer) => ListPage<unknown>) | undefined;
}

/**
 * Lists a collection page by page, turning each item into what the caller keeps as it arrives, so
 * that only one page is held at a time. A continue token that expired (410) restarts the list.
 * `keep` states the shape it reads the items as (JSON from the server: nothing is checked).
 */
export async function listAll<U>(
  api: Api,
  path: string,
  options: ListOptions,
  keep: (item: never) => U | undefined,
): Promise<U[]> {
  for (let restarts = 0; ; restarts++) {
    const out: U[] = [];
    const at = { token: undefined as string | undefined };
    try {
      do await listPage(api, path, options, at, keep, out);
      while (at.token);
      return out;
    } catch (err) {
      if (statusOf(err) !== 410 || at.token === undefined || restarts >= 3) throw err;
    }
  }
}

async function listPage<U>(
  api: Api,
  path: string,
  options: ListOptions,
  at: { token: string | undefined },
  keep: (item: never) => U | undefined,
  out: U[],
): Promise<void> {
  const page = await api.request<ListPage<never>>({
    path,
    accept: options.accept,
    protobuf: options.protobuf,
    query: {
      limit: options.pageSize ?? 500,
      continue: at.token,
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
    },
  });
  for (const item of page.items ?? []) {
    const kept = keep(item);
    if (kept !== undefined) out.push(kept);
  }
  at.token = page.metadata?.continue || undefined;
}

/** Reads one object, or undefined when it does not exist. */
export async function readOptional<T>(
  api: Api,
  path: string,
  options: Pick<RequestOptions, 'deadline'> = {},
): Promise<T | undefined> {
  try {
    return await api.request<T>({ path, ...options });
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}
