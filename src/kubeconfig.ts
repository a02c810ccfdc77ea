import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { load as parseYaml } from 'js-yaml';
import { UsageError } from './errors.js';

/** Where the API server is and how to trust it and prove who we are. */
export interface Connection {
  server: string;
  /** What the kubeconfig names it, for messages. */
  source: string;
  tls: {
    ca?: Buffer;
    cert?: Buffer;
    key?: Buffer;
    rejectUnauthorized: boolean;
    servername?: string;
  };
  /** Headers that authenticate a request; asked before each one (tokens expire and rotate). */
  credentials: () => Promise<Record<string, string>>;
}

export interface ConnectionOptions {
  kubeconfig?: string | undefined;
  context?: string | undefined;
}

const serviceAccountDir = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * The connection the way kubectl users expect: `--kubeconfig`, then `KUBECONFIG`, then
 * `~/.kube/config`, then the in-cluster ServiceAccount.
 */
export function loadConnection(options: ConnectionOptions, env = process.env): Connection {
  const file = kubeconfigFile(options.kubeconfig ?? env.KUBECONFIG);
  if (file) return fromKubeconfig(file, options.context);
  if (env.KUBERNETES_SERVICE_HOST) return inCluster(env);
  throw new UsageError(
    'no cluster given: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run in a pod',
  );
}

/** The kubeconfig file to read: the one given (first of a KUBECONFIG list), else ~/.kube/config. */
function kubeconfigFile(given: string | undefined): string | undefined {
  if (given) {
    const first = given.split(':').find((f) => f.length > 0) ?? given;
    if (!existsSync(first)) throw new UsageError(`kubeconfig ${first} does not exist`);
    return first;
  }
  const home = join(homedir(), '.kube', 'config');
  return existsSync(home) ? home : undefined;
}

function inCluster(env: NodeJS.ProcessEnv): Connection {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  const tokenFile = join(serviceAccountDir, 'token');
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    source: '(in-cluster)',
    tls: {
      ca: readFile(join(serviceAccountDir, 'ca.crt'), 'in-cluster CA'),
      rejectUnauthorized: true,
    },
    credentials: bearerFromFile(tokenFile),
  };
}

interface NamedEntry<T> {
  name?: string;
  cluster?: T;
  user?: T;
  context?: T;
}

type Fields = Record<string, unknown>;

function fromKubeconfig(file: string, contextName: string | undefined): Connection {
  const config = parseKubeconfig(file);
  const wanted = contextName ?? str(config['current-context']);
  if (!wanted) throw new UsageError(`kubeconfig ${file} has no current context`);
  const context = named(config.contexts, wanted, 'context');
  if (!context) {
    throw new UsageError(
      contextName
        ? `context "${contextName}" is not in the kubeconfig`
        : `kubeconfig ${file}: current context "${wanted}" is not defined`,
    );
  }
  const cluster = named(config.clusters, str(context.cluster) ?? '', 'cluster');
  if (!cluster) throw new UsageError('the kubeconfig has no current cluster');
  const user = named(config.users, str(context.user) ?? '', 'user') ?? {};
  const base = dirname(file);
  const server = str(cluster.server);
  if (!server)
    throw new UsageError(`kubeconfig ${file}: cluster "${str(context.cluster)}" has no server`);
  if (cluster['proxy-url']) {
    throw new UsageError(
      `kubeconfig ${file}: proxy-url is not supported; reach the API server directly`,
    );
  }
  const tls = {
    ca: material(cluster, 'certificate-authority', base),
    cert: material(user, 'client-certificate', base),
    key: material(user, 'client-key', base),
    rejectUnauthorized: cluster['insecure-skip-tls-verify'] !== true,
    servername: str(cluster['tls-server-name']),
  };
  return { server, source: file, tls, credentials: userCredentials(user, base, file, wanted) };
}

function parseKubeconfig(file: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(
      `cannot read kubeconfig ${file}: ${(err as Error).message.split('\n')[0]}`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null) {
    throw new UsageError(`cannot read kubeconfig ${file}: it is empty or not a kubeconfig`);
  }
  return parsed as Record<string, unknown>;
}

function named(
  list: unknown,
  name: string,
  field: 'cluster' | 'user' | 'context',
): Fields | undefined {
  if (!Array.isArray(list)) return undefined;
  const entry = (list as NamedEntry<Fields>[]).find((e) => e.name === name);
  return entry ? (entry[field] ?? {}) : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** A PEM given inline (`<field>-data`, base64) or as a file (relative to the kubeconfig). */
function material(fields: Fields, field: string, base: string): Buffer | undefined {
  const inline = str(fields[`${field}-data`]);
  if (inline) return Buffer.from(inline, 'base64');
  const path = str(fields[field]);
  return path ? readFile(isAbsolute(path) ? path : join(base, path), field) : undefined;
}

function readFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(
      `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? ''}`,
    );
  }
}

function userCredentials(
  user: Fields,
  base: string,
  file: string,
  context: string,
): Connection['credentials'] {
  const token = str(user.token);
  if (token) return () => Promise.resolve({ Authorization: `Bearer ${token}` });
  const tokenFile = str(user.tokenFile);
  if (tokenFile) return bearerFromFile(isAbsolute(tokenFile) ? tokenFile : join(base, tokenFile));
  if (typeof user.exec === 'object' && user.exec !== null)
    return execCredentials(user.exec as Fields);
  const username = str(user.username);
  if (username) {
    const basic = Buffer.from(`${username}:${str(user.password) ?? ''}`).toString('base64');
    return () => Promise.resolve({ Authorization: `Basic ${basic}` });
  }
  if (user['auth-provider']) return authProviderCredentials(file, context);
  return () => Promise.resolve({});
}

/** A token file that rotates (a projected ServiceAccount token): read again after a minute. */
function bearerFromFile(path: string): Connection['credentials'] {
  let cached: { token: string; readAt: number } | undefined;
  return () => {
    if (!cached || Date.now() - cached.readAt > 60_000) {
      cached = { token: readFile(path, 'token file').toString('utf8').trim(), readAt: Date.now() };
    }
    return Promise.resolve({ Authorization: `Bearer ${cached.token}` });
  };
}

interface ExecStatus {
  token?: string;
  expirationTimestamp?: string;
}

/** A client-go credential plugin (`users[].user.exec`): its token, until it expires. */
function execCredentials(exec: Fields): Connection['credentials'] {
  const command = str(exec.command);
  if (!command) throw new UsageError('kubeconfig: users[].user.exec has no command');
  const args = Array.isArray(exec.args) ? exec.args.map(String) : [];
  const env = { ...process.env };
  for (const e of Array.isArray(exec.env)
    ? (exec.env as { name?: string; value?: string }[])
    : []) {
    if (e.name) env[e.name] = e.value ?? '';
  }
  env.KUBERNETES_EXEC_INFO = JSON.stringify({
    apiVersion: str(exec.apiVersion) ?? 'client.authentication.k8s.io/v1',
    kind: 'ExecCredential',
    spec: { interactive: false },
  });
  let cached: { status: ExecStatus; until: number } | undefined;
  return async () => {
    if (!cached || Date.now() >= cached.until) {
      const status = await runPlugin(command, args, env);
      const expires = status.expirationTimestamp ? Date.parse(status.expirationTimestamp) : NaN;
      cached = { status, until: Number.isNaN(expires) ? Infinity : expires - 10_000 };
    }
    const headers: Record<string, string> = {};
    if (cached.status.token) headers.Authorization = `Bearer ${cached.status.token}`;
    return headers;
  };
}

function runPlugin(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<ExecStatus> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { env, timeout: 60_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`credential plugin ${command} failed: ${stderr.trim() || err.message}`));
        return;
      }
      try {
        const parsed = JSON.parse(stdout) as { status?: ExecStatus };
        resolve(parsed.status ?? {});
      } catch {
        reject(new Error(`credential plugin ${command} printed no ExecCredential`));
      }
    });
  });
}

/**
 * The legacy `auth-provider` (oidc and the like) is left to the official client, loaded only for
 * such a kubeconfig, so that everyone else does not pay for loading it.
 */
function authProviderCredentials(file: string, context: string): Connection['credentials'] {
  let kc:
    | Promise<{ applyToHTTPSOptions(o: { headers?: Record<string, unknown> }): Promise<void> }>
    | undefined;
  return async () => {
    kc ??= import('@kubernetes/client-node').then(({ KubeConfig }) => {
      const config = new KubeConfig();
      config.loadFromFile(file);
      config.setCurrentContext(context);
      return config;
    });
    const opts: { headers?: Record<string, unknown> } = {};
    await (await kc).applyToHTTPSOptions(opts);
    return Object.fromEntries(Object.entries(opts.headers ?? {}).map(([k, v]) => [k, String(v)]));
  };
}
