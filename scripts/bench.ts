// Benchmarks polling-reloader on a populated cluster: the passes of `run --once` (baseline, steady,
// after changes), the long-running mode, the cold start, and the floor they are compared with (a bare
// metadata-only list of every ConfigMap and Secret). The CLI talks to the API server through a
// counting TCP pass-through proxy; each step's figures are differences of the API server's /metrics
// and of the proxy's counters, read before and after the step, with nothing else running in between.
//
//   node_modules/.bin/tsx scripts/bench.ts [--scale 1] [--kubeconfig PATH] [--out FILE.json]
//     [--cli PATH (default: the package's bin)] [--baseline-cli PATH] [--long-running-seconds 180]
//     [--skip-populate] [--keep-cluster] [--big-secrets N (default: 200 × scale)] [--plain-node]
//     [--flat-passes N (default 0: none)]
//
// --flat-passes N adds a run of N passes at --interval 1s, a ConfigMap changed every 5th pass: the
// medians of its RSS samples in the first and the second half say whether memory stays flat.
//
// The CLI runs as the image runs it: with the node flags of the Dockerfile's ENTRYPOINT and the
// environment of its last stage (see scripts/image-runtime.ts); --plain-node runs plain `node CLI`.
//
// Without --kubeconfig it uses the local control plane (`scripts/cluster up`, CLUSTER_DIR honoured);
// one it started is stopped at the end unless --keep-cluster.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { connect, createServer, isIP, type AddressInfo, type Server, type Socket } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkServerIdentity } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { KubeConfig } from '@kubernetes/client-node';
import { imageRuntime, type ImageRuntime } from './image-runtime.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const partOf = 'app.kubernetes.io/part-of=polling-reloader-bench';
const leaseNamespace = 'bench-reloader';
const emptyNamespace = 'bench-empty';
const metadataOnly = {
  Accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1',
  'Accept-Encoding': 'gzip',
};
const onceTimeoutMs = 30 * 60_000;
const intervalSeconds = 10;

// --- options and sizes ------------------------------------------------------------------------

interface Options {
  scale: number;
  kubeconfig: string | undefined;
  out: string | undefined;
  cli: string;
  baselineCli: string | undefined;
  longRunningSeconds: number;
  skipPopulate: boolean;
  keepCluster: boolean;
  bigSecrets: number | undefined;
  plainNode: boolean;
  flatPasses: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      scale: { type: 'string', default: '1' },
      kubeconfig: { type: 'string' },
      out: { type: 'string' },
      cli: { type: 'string' },
      'baseline-cli': { type: 'string' },
      'long-running-seconds': { type: 'string', default: '180' },
      'skip-populate': { type: 'boolean', default: false },
      'keep-cluster': { type: 'boolean', default: false },
      'big-secrets': { type: 'string' },
      'plain-node': { type: 'boolean', default: false },
      'flat-passes': { type: 'string', default: '0' },
    },
  });
  const baselineCli = values['baseline-cli'];
  return {
    scale: positive('--scale', values.scale),
    kubeconfig: values.kubeconfig,
    out: values.out,
    cli: values.cli === undefined ? builtCli() : resolve(values.cli),
    baselineCli: baselineCli === undefined ? undefined : resolve(baselineCli),
    longRunningSeconds: positive('--long-running-seconds', values['long-running-seconds']),
    skipPopulate: values['skip-populate'],
    keepCluster: values['keep-cluster'],
    bigSecrets: bigSecretsOption(values['big-secrets']),
    plainNode: values['plain-node'],
    flatPasses: wholeNumber('--flat-passes', values['flat-passes']),
  };
}

/** What `npx polling-reloader` runs: the package's bin (dist/cli.js before the CLI was bundled). */
function builtCli(): string {
  const text = readFileSync(join(root, 'package.json'), 'utf8');
  const bin = (JSON.parse(text) as { bin?: Record<string, string> }).bin?.['polling-reloader'];
  return join(root, bin ?? join('dist', 'cli.js'));
}

function bigSecretsOption(text: string | undefined): number | undefined {
  return text === undefined ? undefined : wholeNumber('--big-secrets', text);
}

function wholeNumber(flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${flag} needs a whole number`);
  return value;
}

function positive(flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${flag} needs a positive number`);
  return value;
}

/** Scale 1: 10k ConfigMaps, 10k Secrets (200 of 256 KiB), 2k Deployments in 100 namespaces. */
interface Counts {
  namespaces: number;
  configMaps: number;
  secrets: number;
  bigSecrets: number;
  deployments: number;
}

function countsFor(scale: number, bigSecrets?: number): Counts {
  const scaled = (full: number): number => Math.max(1, Math.round(full * scale));
  return {
    namespaces: scaled(100),
    configMaps: scaled(10_000),
    secrets: scaled(10_000),
    bigSecrets: bigSecrets ?? scaled(200),
    deployments: scaled(2_000),
  };
}

interface Ref {
  namespace: string;
  name: string;
}

/**
 * Object `index` of a kind goes round-robin over the namespaces, so Deployment k, ConfigMap k and
 * Secret k share a namespace and a suffix: Deployment k uses ConfigMap k and Secret k, and the big
 * Secrets (the first ones) are used too.
 */
function placed(prefix: string, index: number, counts: Counts): Ref {
  const suffix = Math.floor(index / counts.namespaces);
  return { namespace: `bench-${index % counts.namespaces}`, name: `${prefix}-${suffix}` };
}

const refKey = (ref: Ref): string => `${ref.namespace}/${ref.name}`;

// --- API access -------------------------------------------------------------------------------

/** Where and how to reach the API server, over one keep-alive agent. */
interface Api {
  host: string;
  port: number;
  headers: Record<string, string>;
  agent: Agent;
  /** The bench's own resource requests, which the API server counts: subtracted from a step. */
  own: Own;
}

interface Own {
  requests: number;
  /** Bytes of GET responses: the only ones apiserver_response_sizes records. */
  readBytes: number;
}

/** The API server of the current context. */
function serverOf(kc: KubeConfig): { host: string; port: number } {
  const url = new URL(kc.getCurrentCluster()?.server ?? '');
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 443) };
}

/** An Api for the current context; `viaPort` sends it through the proxy on that loopback port. */
async function apiFor(kc: KubeConfig, maxSockets: number, viaPort?: number): Promise<Api> {
  const { host, port } = serverOf(kc);
  const tls: { ca?: unknown; cert?: unknown; key?: unknown; headers?: unknown } = {};
  await kc.applyToHTTPSOptions(tls);
  const agent = new Agent({
    keepAlive: true,
    maxSockets,
    ca: tls.ca as string | undefined,
    cert: tls.cert as string | undefined,
    key: tls.key as string | undefined,
    // Through the proxy the socket goes to 127.0.0.1: the certificate must still name the server.
    checkServerIdentity: (_host, cert) => checkServerIdentity(host, cert),
  });
  return {
    host: viaPort === undefined ? host : '127.0.0.1',
    port: viaPort ?? port,
    headers: authorization(tls.headers),
    agent,
    own: { requests: 0, readBytes: 0 },
  };
}

function authorization(headers: unknown): Record<string, string> {
  const value = (headers as Record<string, unknown> | undefined)?.Authorization;
  return typeof value === 'string' ? { Authorization: value } : {};
}

interface Reply {
  status: number;
  body: Buffer;
  /** Body bytes as they came over the connection (compressed, when gzip). */
  received: number;
}

function send(
  api: Api,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((done, fail) => {
    const options = { host: api.host, port: api.port, method, path, agent: api.agent };
    const req = request({ ...options, headers: { ...api.headers, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', fail);
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        const gzip = res.headers['content-encoding'] === 'gzip';
        done({
          status: res.statusCode ?? 0,
          body: gzip ? gunzipSync(raw) : raw,
          received: raw.length,
        });
      });
    });
    req.on('error', fail);
    req.setTimeout(120_000, () => req.destroy(new Error(`${method} ${path}: no answer in 120s`)));
    req.end(body);
  });
}

/** A resource request of the bench itself: counted, so that a step can leave it out. */
async function call(
  api: Api,
  method: string,
  path: string,
  body?: string,
  headers?: Record<string, string>,
): Promise<Reply> {
  const reply = await send(api, method, path, body, headers);
  api.own.requests += 1;
  if (method === 'GET') api.own.readBytes += reply.received;
  return reply;
}

function expect(reply: Reply, ok: number[], what: string): void {
  if (ok.includes(reply.status)) return;
  throw new Error(`${what}: HTTP ${reply.status} ${reply.body.toString().slice(0, 300)}`);
}

interface Item {
  metadata: Ref;
  spec?: { template?: unknown };
}

interface ListPage {
  /** null in an empty metadata-only list. */
  items: Item[] | null;
  metadata: { continue?: string };
}

/** Lists every page (500 a page) of a collection, calling `each` on each item. */
async function listAll(
  api: Api,
  path: string,
  each: (item: Item) => void,
  headers?: Record<string, string>,
): Promise<void> {
  let token = '';
  do {
    const query = `limit=500${token ? `&continue=${encodeURIComponent(token)}` : ''}`;
    const url = `${path}${path.includes('?') ? '&' : '?'}${query}`;
    const reply = await call(api, 'GET', url, undefined, headers);
    expect(reply, [200], `list ${path}`);
    const page = JSON.parse(reply.body.toString()) as ListPage;
    page.items?.forEach(each);
    token = page.metadata.continue ?? '';
  } while (token);
}

// --- the counting proxy -----------------------------------------------------------------------

/** A loopback TCP pass-through to the API server that counts connections and bytes it returns. */
class CountingProxy {
  connections = 0;
  bytesDown = 0;
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {
    // noDelay on both sides: with Nagle's algorithm, a request written in pieces waits for the
    // server's delayed ACK (40 ms) at the proxy, which the CLI would not wait for without it.
    this.server = createServer({ noDelay: true }, (client) => {
      this.pass(client);
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((done, fail) => {
      this.server.once('error', fail);
      this.server.listen(0, '127.0.0.1', done);
    });
    return (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((done) => {
      this.server.close(() => {
        done();
      });
    });
  }

  private pass(client: Socket): void {
    this.connections += 1;
    const upstream = connect({ port: this.port, host: this.host, noDelay: true });
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      // One side failing ends both: the client sees a reset, as without the proxy.
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    upstream.on('data', (chunk: Buffer) => {
      this.bytesDown += chunk.length;
    });
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

/** A copy of the kubeconfig whose current cluster is reached through the proxy. */
function proxiedKubeconfig(kc: KubeConfig, port: number, file: string): void {
  const current = kc.getCurrentCluster();
  if (!current) throw new Error('the kubeconfig has no current cluster');
  const host = new URL(current.server).hostname;
  const clusters = kc.getClusters().map((c) => {
    if (c.name !== current.name) return c;
    // A name in the certificate other than 127.0.0.1 must still be checked: tls-server-name.
    const tlsServerName = isIP(host) === 0 ? host : c.tlsServerName;
    return { ...c, server: `https://127.0.0.1:${port}`, tlsServerName };
  });
  const copy = new KubeConfig();
  copy.loadFromOptions({
    clusters,
    users: kc.getUsers(),
    contexts: kc.getContexts(),
    currentContext: kc.getCurrentContext(),
  });
  writeFileSync(file, copy.exportConfig(), { mode: 0o600 });
}

// --- API server metrics -----------------------------------------------------------------------

/** Value per series (the label set) of apiserver_request_total and apiserver_response_sizes_sum. */
interface Scrape {
  requests: Map<string, number>;
  readBytes: Map<string, number>;
}

/** Not counted by the API server (non-resource requests are not), so not counted as own either. */
async function scrape(api: Api): Promise<Scrape> {
  const reply = await send(api, 'GET', '/metrics');
  expect(reply, [200], 'GET /metrics');
  const out: Scrape = { requests: new Map(), readBytes: new Map() };
  const line = /^(apiserver_request_total|apiserver_response_sizes_sum)\{(.*)\} (\S+)$/gm;
  for (const [, name, labels = '', value] of reply.body.toString().matchAll(line)) {
    const series = name === 'apiserver_request_total' ? out.requests : out.readBytes;
    series.set(labels, Number(value));
  }
  return out;
}

// The control plane's own traffic, never the CLI's: kwok's node heartbeats, the API server's endpoint
// reconciler, and the controllers reacting to a patched Deployment. The CLI never watches.
// '' is a non-resource request: only health checks are counted.
const background = new Set([
  'endpoints',
  'endpointslices',
  'events',
  'nodes',
  'pods',
  'replicasets',
  'controllerrevisions',
  '',
]);

const label = (labels: string, name: string): string =>
  new RegExp(`${name}="([^"]*)"`).exec(labels)?.[1] ?? '';

function fromCli(labels: string): boolean {
  const resource = label(labels, 'resource');
  if (background.has(resource)) return false;
  return label(labels, 'verb') !== 'WATCH' && label(labels, 'subresource') !== 'status';
}

function growth(before: Map<string, number>, after: Map<string, number>, all = false): number {
  let total = 0;
  for (const [labels, value] of after) {
    if (all || fromCli(labels)) total += value - (before.get(labels) ?? 0);
  }
  return total;
}

/** The CLI's requests by verb, resource and status code, as `LIST configmaps 200` (JSON only). */
function calls(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [labels, value] of after) {
    const grown = value - (before.get(labels) ?? 0);
    if (grown === 0 || !fromCli(labels)) continue;
    const sub = label(labels, 'subresource');
    const resource = `${label(labels, 'resource')}${sub ? `/${sub}` : ''}`;
    const name = `${label(labels, 'verb')} ${resource} ${label(labels, 'code')}`;
    out[name] = (out[name] ?? 0) + grown;
  }
  return out;
}

interface Snapshot {
  scrape: Scrape;
  own: Own;
  connections: number;
  bytesDown: number;
}

async function snapshot(bench: Bench): Promise<Snapshot> {
  const { connections, bytesDown } = bench.proxy;
  return { own: { ...bench.admin.own }, connections, bytesDown, scrape: await scrape(bench.admin) };
}

interface Figures {
  apiRequests: number;
  apiBytes: number;
  /** Every series, the control plane's own traffic included (JSON only). */
  apiRequestsAll: number;
  wireBytes: number;
  connections: number;
  /** By verb, resource and code, the bench's own requests included (JSON only). */
  apiCalls?: Record<string, number>;
}

function figures(before: Snapshot, after: Snapshot): Figures {
  const ownRequests = after.own.requests - before.own.requests;
  const ownBytes = after.own.readBytes - before.own.readBytes;
  const { requests, readBytes } = before.scrape;
  return {
    apiRequests: growth(requests, after.scrape.requests) - ownRequests,
    apiBytes: growth(readBytes, after.scrape.readBytes) - ownBytes,
    apiRequestsAll: growth(requests, after.scrape.requests, true) - ownRequests,
    wireBytes: after.bytesDown - before.bytesDown,
    connections: after.connections - before.connections,
    apiCalls: calls(requests, after.scrape.requests),
  };
}

// --- child processes --------------------------------------------------------------------------

/** Every child still running, and whether it leads a process group of its own. */
const children = new Map<ChildProcess, boolean>();

function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(children.get(child) ? -pid : pid, signal);
  } catch {
    // It ended in the meantime.
  }
}

function stopAll(): void {
  for (const child of children.keys()) stop(child);
}

/** Collects a child's output until it exits; kills it after `timeoutMs`. */
async function finished(
  child: ChildProcess,
  timeoutMs: number,
): Promise<{ code: number; log: string }> {
  let log = '';
  const append = (chunk: Buffer): void => {
    log += chunk.toString();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const timer = setTimeout(() => {
    stop(child);
  }, timeoutMs);
  try {
    const code = await new Promise<number>((done, fail) => {
      child.once('error', fail);
      child.once('close', (status: number | null) => {
        done(status ?? -1);
      });
    });
    return { code, log };
  } finally {
    clearTimeout(timer);
    stop(child);
    children.delete(child);
  }
}

interface Run {
  wallS: number;
  peakRssMiB: number;
  cpuS: number;
  code: number;
  log: string;
}

/** One `node <cli> ...` under /usr/bin/time (peak RSS, CPU), in a process group of its own. */
async function runMeasured(bench: Bench, cli: string, args: string[]): Promise<Run> {
  bench.runs += 1;
  const timeFile = join(bench.tmp, `time-${bench.runs}.txt`);
  const { nodeFlags, env } = bench.runtime;
  const argv = ['-f', '%M %U %S', '-o', timeFile, process.execPath, ...nodeFlags, cli, ...args];
  const started = performance.now();
  const child = spawn('/usr/bin/time', argv, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  children.set(child, true);
  const { code, log } = await finished(child, onceTimeoutMs);
  const wallS = (performance.now() - started) / 1000;
  const last = readFileSync(timeFile, 'utf8').trim().split('\n').pop() ?? '';
  const [rssKiB = NaN, user = NaN, sys = NaN] = last.split(' ').map(Number);
  return { wallS, peakRssMiB: rssKiB / 1024, cpuS: user + sys, code, log };
}

/** The `msg` of each json log line that reports a finished pass. */
function passesIn(log: string): string[] {
  return log.split('\n').flatMap((line) => {
    const msg = messageOf(line);
    return msg?.includes('pass done') ? [msg] : [];
  });
}

function messageOf(line: string): string | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const parsed = JSON.parse(line) as { msg?: unknown };
    return typeof parsed.msg === 'string' ? parsed.msg : undefined;
  } catch {
    return undefined;
  }
}

const tail = (log: string): string => log.trimEnd().split('\n').slice(-15).join('\n');

// --- steps ------------------------------------------------------------------------------------

interface Bench {
  options: Options;
  counts: Counts;
  kc: KubeConfig;
  admin: Api;
  proxy: CountingProxy;
  proxyPort: number;
  tmp: string;
  cliKubeconfig: string;
  runs: number;
  failures: string[];
  /** How node runs the CLI: as the image runs it, or plain with --plain-node. */
  runtime: ImageRuntime;
}

interface Step extends Figures {
  name: string;
  wallS: number;
  peakRssMiB?: number;
  cpuS?: number;
  /** The CLI's own summary of the pass. */
  pass?: string;
  check?: string;
  samples?: number;
  /** Its wall time is set by a flag, so a ratio to the floor's says nothing. */
  fixedWall?: boolean;
}

function cliArgs(bench: Bench, state: string, ...extra: string[]): string[] {
  return [
    'run',
    `--kubeconfig=${bench.cliKubeconfig}`,
    `--state=${state}`,
    `--lease-namespace=${leaseNamespace}`,
    '--log-format=json',
    ...extra,
  ];
}

/** One `run --once` process, measured; it must run exactly one pass. */
async function onceStep(bench: Bench, name: string, cli: string, args: string[]): Promise<Step> {
  const before = await snapshot(bench);
  const run = await runMeasured(bench, cli, args);
  const after = await snapshot(bench);
  const passes = passesIn(run.log);
  // Exit code 3 (some reloads failed) is a finding to report, not a broken measurement.
  if ((run.code !== 0 && run.code !== 3) || passes.length !== 1) {
    throw new Error(`${name}: exit code ${run.code}, ${passes.length} passes:\n${tail(run.log)}`);
  }
  if (run.code === 3) bench.failures.push(`${name}: some reloads failed (exit code 3)`);
  const { wallS, peakRssMiB, cpuS } = run;
  return { name, wallS, peakRssMiB, cpuS, ...figures(before, after), pass: passes[0] };
}

async function templates(api: Api): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  await listAll(api, `/apis/apps/v1/deployments?labelSelector=${partOf}`, (item) => {
    out.set(refKey(item.metadata), JSON.stringify(item.spec?.template));
  });
  return out;
}

async function template(api: Api, dep: Ref): Promise<string> {
  const reply = await call(
    api,
    'GET',
    `/apis/apps/v1/namespaces/${dep.namespace}/deployments/${dep.name}`,
  );
  expect(reply, [200], `GET deployment ${refKey(dep)}`);
  return JSON.stringify((JSON.parse(reply.body.toString()) as Item).spec?.template);
}

async function changeData(
  api: Api,
  kind: string,
  ref: Ref,
  data: Record<string, string>,
): Promise<void> {
  const path = `/api/v1/namespaces/${ref.namespace}/${kind}/${ref.name}`;
  const patch = JSON.stringify({ data });
  const reply = await call(api, 'PATCH', path, patch, {
    'Content-Type': 'application/merge-patch+json',
  });
  expect(reply, [200], `PATCH ${kind} ${refKey(ref)}`);
}

const stamp = (): string => `${Date.now()}-${randomBytes(4).toString('hex')}`;

/**
 * Changes sources with `change` (which names the Deployments that use them), runs a pass, and checks
 * that exactly those Deployments rolled: their pod template changed, and no other one did.
 */
async function changeStep(
  bench: Bench,
  name: string,
  state: string,
  change: () => Promise<Ref[]>,
): Promise<Step> {
  const expected = (await change()).map(refKey).sort();
  const before = await templates(bench.admin);
  const step = await onceStep(bench, name, bench.options.cli, cliArgs(bench, state, '--once'));
  const after = await templates(bench.admin);
  const rolled = [...after.keys()].filter((k) => after.get(k) !== before.get(k)).sort();
  const exact = rolled.join(' ') === expected.join(' ');
  step.check = exact
    ? `ok: exactly the ${expected.length} Deployment(s) using them rolled`
    : `FAILED: expected ${expected.join(' ')}; rolled: ${rolled.join(' ') || 'none'}`;
  if (!exact) bench.failures.push(`${name}: ${step.check}`);
  return step;
}

/** Deployment k uses ConfigMap k: changing ConfigMaps 0..9 must roll Deployments 0..9. */
function tenConfigMaps(bench: Bench): () => Promise<Ref[]> {
  return async () => {
    const indices = [...Array(Math.min(10, bench.counts.deployments)).keys()];
    for (const k of indices) {
      await changeData(bench.admin, 'configmaps', placed('cm', k, bench.counts), { rev: stamp() });
    }
    return indices.map((k) => placed('dep', k, bench.counts));
  };
}

/** Secret 0 is one of the 256 KiB ones, and Deployment 0 uses it. */
function bigSecret(bench: Bench): () => Promise<Ref[]> {
  return async () => {
    const rev = Buffer.from(stamp()).toString('base64');
    await changeData(bench.admin, 'secrets', placed('sec', 0, bench.counts), { rev });
    return [placed('dep', 0, bench.counts)];
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const high = sorted[mid] ?? NaN;
  return sorted.length % 2 ? high : (high + (sorted[mid - 1] ?? NaN)) / 2;
}

/** The median of each column over repeated runs of a step. */
function medianStep(name: string, runs: Step[]): Step {
  const of = (pick: (s: Step) => number | undefined): number =>
    median(runs.map((s) => pick(s) ?? NaN));
  return {
    name,
    wallS: of((s) => s.wallS),
    peakRssMiB: of((s) => s.peakRssMiB),
    cpuS: of((s) => s.cpuS),
    apiRequests: of((s) => s.apiRequests),
    apiBytes: of((s) => s.apiBytes),
    apiRequestsAll: of((s) => s.apiRequestsAll),
    wireBytes: of((s) => s.wireBytes),
    connections: of((s) => s.connections),
    apiCalls: runs[0]?.apiCalls,
    pass: runs[0]?.pass,
    samples: runs.length,
  };
}

/**
 * The whole `run --once` process on an empty namespace, fresh state each time: the median of 5 per
 * CLI. The CLIs take turns, so that a noisy moment of the machine does not fall on one of them only.
 */
async function coldStarts(bench: Bench, clis: [string, string][]): Promise<Step[]> {
  const runs = new Map<string, Step[]>(clis.map(([name]) => [name, []]));
  for (let i = 0; i < 5; i += 1) {
    for (const [name, cli] of clis) {
      const state = join(bench.tmp, `cold-${bench.runs}.json`);
      const args = cliArgs(bench, state, '--once', `--namespaces=${emptyNamespace}`);
      runs.get(name)?.push(await onceStep(bench, name, cli, args));
    }
  }
  return [...runs].map(([name, steps]) => medianStep(name, steps));
}

/** The floor: a metadata-only list of every ConfigMap and Secret, 500 a page, gzip, one connection. */
async function floorOnce(bench: Bench): Promise<Step> {
  const api = await apiFor(bench.kc, 1, bench.proxyPort);
  try {
    let items = 0;
    const before = await snapshot(bench);
    const started = performance.now();
    for (const kind of ['configmaps', 'secrets']) {
      await listAll(api, `/api/v1/${kind}`, () => (items += 1), metadataOnly);
    }
    const wallS = (performance.now() - started) / 1000;
    const after = await snapshot(bench);
    return { name: 'floor', wallS, ...figures(before, after), pass: `${items} objects listed` };
  } finally {
    api.agent.destroy();
  }
}

/**
 * The floor and the steady pass, three times each, taking turns, so that a noisy moment of the
 * machine falls on both: their medians.
 */
async function floorAndSteady(bench: Bench, state: string): Promise<[Step, Step]> {
  const floors: Step[] = [];
  const steadies: Step[] = [];
  for (let i = 0; i < 3; i += 1) {
    floors.push(await floorOnce(bench));
    const args = cliArgs(bench, state, '--once');
    steadies.push(await onceStep(bench, 'steady pass', bench.options.cli, args));
  }
  return [
    medianStep('floor: metadata-only list', floors),
    medianStep('steady pass (no change)', steadies),
  ];
}

// --- the long-running mode --------------------------------------------------------------------

function procStatus(pid: number, field: string): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const value = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(text)?.[1];
    return value === undefined ? undefined : Number(value);
  } catch {
    return undefined;
  }
}

/** utime + stime of a process, in clock ticks. */
function cpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/** Samples a process: VmRSS each second, the CPU ticks at each "pass done" line of its log. */
class Watched {
  readonly rssKiB: number[] = [];
  readonly passTicks: number[] = [];
  log = '';
  private partial = '';
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly pid: number,
    stderr: Readable,
  ) {
    this.timer = setInterval(() => {
      const rss = procStatus(pid, 'VmRSS');
      if (rss !== undefined) this.rssKiB.push(rss);
    }, 1000);
    stderr.on('data', (chunk: Buffer) => {
      this.take(chunk.toString());
    });
  }

  get passes(): number {
    return this.passTicks.length;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private take(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      this.log += `${line}\n`;
      if (messageOf(line)?.includes('pass done')) this.passTicks.push(cpuTicks(this.pid) ?? NaN);
    }
  }
}

interface LongRun {
  seconds: number;
  passes: number;
  rssFirstMiB: number;
  rssMaxMiB: number;
  rssLastMiB: number;
  cpuS: number;
  cpuPerPassS: number;
  /** Between the first and the last pass: without the start-up. */
  cpuPerLaterPassS: number;
  latenciesS: number[];
  latencyMedianS: number;
}

/** Changes ConfigMap k and waits (polling every 100 ms) until Deployment k's template changes. */
async function changeToPatch(bench: Bench, k: number): Promise<number> {
  const dep = placed('dep', k, bench.counts);
  const before = await template(bench.admin, dep);
  await changeData(bench.admin, 'configmaps', placed('cm', k, bench.counts), { rev: stamp() });
  const started = performance.now();
  const giveUp = started + 10 * intervalSeconds * 1000;
  while (performance.now() < giveUp) {
    await sleep(100);
    if ((await template(bench.admin, dep)) !== before) return (performance.now() - started) / 1000;
  }
  throw new Error(`long-running: ${refKey(dep)} did not roll within ${10 * intervalSeconds}s`);
}

/** A few changes at random moments of the interval, while time is left for the pass to see them. */
async function latencies(bench: Bench, endsAt: number): Promise<number[]> {
  const out: number[] = [];
  const room = (2 * intervalSeconds + 5) * 1000;
  for (let k = 10; out.length < 8 && performance.now() + room < endsAt; k += 1) {
    await sleep(Math.random() * intervalSeconds * 1000);
    out.push(await changeToPatch(bench, k % bench.counts.deployments));
  }
  return out;
}

async function until(test: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const giveUp = performance.now() + timeoutMs;
  while (!test()) {
    if (performance.now() > giveUp) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** The CLI in the long-running mode, watched. */
function startLongRunning(
  bench: Bench,
  state: string,
  interval: string,
): { child: ChildProcess; watched: Watched; done: Promise<{ code: number | null }> } {
  const { nodeFlags, env } = bench.runtime;
  const cli = [bench.options.cli, ...cliArgs(bench, state, `--interval=${interval}`)];
  const child = spawn(process.execPath, [...nodeFlags, ...cli], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
  children.set(child, false);
  const done = finished(child, onceTimeoutMs);
  // Awaited by the caller; until then a failed spawn must not be an unhandled rejection.
  done.catch(() => undefined);
  if (child.pid === undefined) throw new Error('long-running: the CLI did not start');
  return { child, watched: new Watched(child.pid, child.stderr), done };
}

/** `run --interval 10s` for --long-running-seconds, on the state of the steps before it. */
async function longRunning(bench: Bench, state: string): Promise<{ step: Step; detail: LongRun }> {
  const before = await snapshot(bench);
  const started = performance.now();
  const { child, watched, done } = startLongRunning(bench, state, `${intervalSeconds}s`);
  try {
    const { ticks, samples } = await drive(bench, child, watched, started);
    stop(child, 'SIGTERM');
    const { code } = await done;
    if (code !== 0) throw new Error(`long-running: exit code ${code}:\n${tail(watched.log)}`);
    const detail = longRunDetail(watched, ticks, samples, (performance.now() - started) / 1000);
    const { seconds: wallS, rssMaxMiB: peakRssMiB, cpuS } = detail;
    const name = `long-running: ${detail.passes} passes`;
    const after = await snapshot(bench);
    const step = { name, wallS, peakRssMiB, cpuS, fixedWall: true, ...figures(before, after) };
    return { step, detail };
  } finally {
    watched.stop();
    stop(child);
  }
}

interface FlatRun {
  passes: number;
  changes: number;
  firstHalfMedianMiB: number;
  secondHalfMedianMiB: number;
  maxMiB: number;
  lastMiB: number;
}

/** `run --interval 1s` for --flat-passes passes, a ConfigMap changed after every 5th. */
async function flatRun(bench: Bench, state: string): Promise<FlatRun> {
  const passes = bench.options.flatPasses;
  const { child, watched, done } = startLongRunning(bench, state, '1s');
  try {
    let changes = 0;
    while (watched.passes < passes) {
      if (child.exitCode !== null) throw new Error(`flat: exit code ${child.exitCode}`);
      if (watched.passes >= (changes + 1) * 5) {
        changes += 1;
        const cm = placed('cm', changes % bench.counts.configMaps, bench.counts);
        await changeData(bench.admin, 'configmaps', cm, { rev: stamp() });
      }
      await sleep(100);
    }
    stop(child, 'SIGTERM');
    const { code } = await done;
    if (code !== 0) throw new Error(`flat: exit code ${code}:\n${tail(watched.log)}`);
    const mib = watched.rssKiB.map((kib) => kib / 1024);
    const half = Math.floor(mib.length / 2);
    return {
      passes: watched.passes,
      changes,
      firstHalfMedianMiB: median(mib.slice(0, half)),
      secondHalfMedianMiB: median(mib.slice(half)),
      maxMiB: Math.max(...mib),
      lastMiB: mib[mib.length - 1] ?? NaN,
    };
  } finally {
    watched.stop();
    stop(child);
  }
}

function flatLine(f: FlatRun): string {
  return (
    `flat: ${f.passes} passes at --interval 1s (${f.changes} ConfigMap changes, one after every ` +
    `5th pass): RSS median ${fixed(f.firstHalfMedianMiB, 0)} MiB in the first half, ` +
    `${fixed(f.secondHalfMedianMiB, 0)} MiB in the second; max ${fixed(f.maxMiB, 0)}, ` +
    `last ${fixed(f.lastMiB, 0)} MiB`
  );
}

/** Waits for the first pass, makes the changes, and returns the CPU ticks used at the end. */
async function drive(
  bench: Bench,
  child: ChildProcess,
  watched: Watched,
  started: number,
): Promise<{ ticks: number; samples: number[] }> {
  const endsAt = started + bench.options.longRunningSeconds * 1000;
  await until(() => watched.passes > 0 || child.exitCode !== null, onceTimeoutMs, 'a first pass');
  if (child.exitCode !== null) {
    throw new Error(`long-running: exit code ${child.exitCode}:\n${tail(watched.log)}`);
  }
  const samples = await latencies(bench, endsAt);
  await sleep(Math.max(0, endsAt - performance.now()));
  return { ticks: cpuTicks(watched.pid) ?? NaN, samples };
}

const clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));

function longRunDetail(w: Watched, ticks: number, samples: number[], seconds: number): LongRun {
  const mib = (kib: number | undefined): number => (kib ?? NaN) / 1024;
  const first = w.passTicks[0] ?? NaN;
  const last = w.passTicks[w.passTicks.length - 1] ?? NaN;
  return {
    seconds,
    passes: w.passes,
    rssFirstMiB: mib(w.rssKiB[0]),
    rssMaxMiB: mib(Math.max(...w.rssKiB)),
    rssLastMiB: mib(w.rssKiB[w.rssKiB.length - 1]),
    cpuS: ticks / clockTicks,
    cpuPerPassS: ticks / clockTicks / w.passes,
    cpuPerLaterPassS: (last - first) / clockTicks / (w.passes - 1),
    latenciesS: samples,
    latencyMedianS: median(samples),
  };
}

// --- populating -------------------------------------------------------------------------------

const kinds = ['configmaps', 'secrets', 'deployments'] as const;
type Kind = (typeof kinds)[number];
const prefixes: Record<Kind, string> = { configmaps: 'cm', secrets: 'sec', deployments: 'dep' };
const groups: Record<Kind, string> = {
  configmaps: '/api/v1',
  secrets: '/api/v1',
  deployments: '/apis/apps/v1',
};

function body(kind: Kind, index: number, counts: Counts): object {
  const ref = placed(prefixes[kind], index, counts);
  const metadata = { ...ref, labels: { 'app.kubernetes.io/part-of': 'polling-reloader-bench' } };
  if (kind === 'configmaps') {
    return {
      metadata,
      data: { 'app.properties': `name=${ref.name}\n${'setting=value\n'.repeat(60)}` },
    };
  }
  if (kind === 'secrets') {
    const size = index < counts.bigSecrets ? 256 * 1024 : 32;
    return { metadata, type: 'Opaque', data: { value: randomBytes(size).toString('base64') } };
  }
  return deployment(metadata, index, counts);
}

/** replicas 0: kwok runs no pods; a roll is a new pod template (and ReplicaSet), not pod churn. */
function deployment(metadata: Ref & { labels: object }, index: number, counts: Counts): object {
  const annotations = { 'reloader.stakater.com/auto': 'true' };
  const envFrom = [
    { configMapRef: { name: placed('cm', index, counts).name } },
    { secretRef: { name: placed('sec', index, counts).name } },
  ];
  const labels = { app: metadata.name };
  return {
    metadata: { ...metadata, annotations },
    spec: {
      replicas: 0,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10', envFrom }] },
      },
    },
  };
}

async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let item = items[next++]; item !== undefined; item = items[next++]) await work(item);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

async function create(api: Api, path: string, manifest: object): Promise<void> {
  const reply = await call(api, 'POST', path, JSON.stringify(manifest), {
    'Content-Type': 'application/json',
  });
  // 409: it exists already, and is left as it is.
  expect(reply, [201, 409], `POST ${path}`);
}

/** Creates what is missing, 16 requests at a time; returns how many objects it created. */
async function populate(bench: Bench): Promise<number> {
  const { admin, counts } = bench;
  const namespaces = [...Array(counts.namespaces).keys()].map((i) => `bench-${i}`);
  await pool([...namespaces, leaseNamespace, emptyNamespace], 16, (name) =>
    create(admin, '/api/v1/namespaces', { metadata: { name } }),
  );
  const missing: { kind: Kind; index: number }[] = [];
  for (const kind of kinds) {
    const existing = await existingNames(admin, kind);
    if (existing.size > wanted(kind, counts)) {
      warn(`the cluster holds ${existing.size} bench ${kind}: more than this scale's, all listed`);
    }
    for (let index = 0; index < wanted(kind, counts); index += 1) {
      const ref = placed(prefixes[kind], index, counts);
      if (!existing.has(refKey(ref))) missing.push({ kind, index });
    }
  }
  await pool(missing, 16, ({ kind, index }) => {
    const { namespace } = placed(prefixes[kind], index, counts);
    return create(
      admin,
      `${groups[kind]}/namespaces/${namespace}/${kind}`,
      body(kind, index, counts),
    );
  });
  return missing.length;
}

function wanted(kind: Kind, counts: Counts): number {
  if (kind === 'configmaps') return counts.configMaps;
  return kind === 'secrets' ? counts.secrets : counts.deployments;
}

/** The bench objects of a kind that exist, as namespace/name: a metadata-only list. */
async function existingNames(api: Api, kind: Kind): Promise<Set<string>> {
  const out = new Set<string>();
  const path = `${groups[kind]}/${kind}?labelSelector=${partOf}`;
  await listAll(api, path, (item) => out.add(refKey(item.metadata)), metadataOnly);
  return out;
}

// --- reporting --------------------------------------------------------------------------------

function warn(text: string): void {
  process.stderr.write(`bench: ${text}\n`);
}

function bytes(n: number): string {
  if (!Number.isFinite(n)) return '–';
  if (Math.abs(n) < 1024) return `${n} B`;
  if (Math.abs(n) < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

const fixed = (n: number | undefined, digits: number): string =>
  n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits);

function markdown(steps: Step[], floorStep: Step): string {
  const head = ['step', 'wall s', '× floor wall', 'peak RSS MiB', 'CPU s', 'API requests'];
  head.push('API bytes (server)', 'wire bytes', '× floor bytes', 'connections');
  const rows = steps.map((s) => [
    s.name,
    fixed(s.wallS, 3),
    s.fixedWall ? '–' : fixed(s.wallS / floorStep.wallS, 1),
    fixed(s.peakRssMiB, 0),
    fixed(s.cpuS, 2),
    fixed(s.apiRequests, 0),
    bytes(s.apiBytes),
    bytes(s.wireBytes),
    fixed(s.wireBytes / floorStep.wireBytes, 1),
    fixed(s.connections, 0),
  ]);
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

interface Machine {
  nproc: number;
  model: string;
  node: string;
  loadStart: number[];
  loadEnd?: number[];
}

function machine(): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? 'unknown CPU';
  return { nproc: availableParallelism(), model, node: process.version, loadStart: loadavg() };
}

function machineLine(m: Machine): string {
  const load = (l: number[] | undefined): string => (l ?? []).map((x) => x.toFixed(2)).join(' ');
  return (
    `machine: nproc ${m.nproc}, ${m.model}, load average ${load(m.loadStart)} at start, ` +
    `${load(m.loadEnd)} at end, node ${m.node}`
  );
}

function runtimeLine({ nodeFlags, env }: ImageRuntime): string {
  const settings = [...nodeFlags, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)];
  return settings.length === 0
    ? 'runtime: plain node (--plain-node)'
    : `runtime: as the image runs it (Dockerfile): ${settings.join(' ')}`;
}

function longRunLine(d: LongRun): string {
  const latency = d.latenciesS.length
    ? `change→patch latency median ${fixed(d.latencyMedianS, 2)} s ` +
      `(${d.latenciesS.map((l) => l.toFixed(2)).join(', ')})`
    : `no change→patch latency: the run leaves no ${2 * intervalSeconds + 5} s after its first pass`;
  return (
    `long-running (run --interval ${intervalSeconds}s, ${d.seconds.toFixed(0)} s): ${d.passes} passes; ` +
    `RSS first/max/last ${fixed(d.rssFirstMiB, 0)}/${fixed(d.rssMaxMiB, 0)}/${fixed(d.rssLastMiB, 0)} MiB; ` +
    `CPU ${fixed(d.cpuPerPassS, 3)} s per pass (${fixed(d.cpuPerLaterPassS, 3)} s after the first); ` +
    latency
  );
}

const notes = [
  'Deployments have replicas: 0, so kwok runs no pods: a roll is a new pod template (and ReplicaSet).',
  'the floor and the steady pass: medians of 3 runs, taking turns; a cold start: the median of 5.',
  'API requests/bytes: growth of apiserver_request_total and apiserver_response_sizes_sum (GET/LIST ' +
    'responses only) minus the bench’s own requests; WATCH, status updates and the control plane’s ' +
    'own resources (nodes, pods, events, endpoints, replicasets) are left out. Non-resource requests ' +
    '(/version, discovery) are not counted by the API server: the wire figures include them.',
  'wire bytes and connections: server→client bytes and accepted connections of the proxy between ' +
    'the CLI (or the floor) and the API server.',
  'the API server gzips only responses of 128 KiB or more: at small scales the floor’s pages stay ' +
    'under that and travel uncompressed, which makes the × floor bytes ratios smaller.',
];

// --- main -------------------------------------------------------------------------------------

function clusterScript(command: string): string {
  const out = execFileSync(join(root, 'scripts', 'cluster'), [command], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', command === 'kubeconfig' ? 'ignore' : 'inherit'],
  });
  return out.trim().split('\n').pop() ?? '';
}

/** The kubeconfig to use, and whether this run started the control plane (then it stops it). */
function cluster(options: Options): { kubeconfig: string; started: boolean } {
  if (options.kubeconfig) return { kubeconfig: options.kubeconfig, started: false };
  let running = true;
  try {
    clusterScript('kubeconfig');
  } catch {
    running = false;
  }
  return { kubeconfig: clusterScript('up'), started: !running };
}

async function setUp(options: Options, kubeconfig: string, tmp: string): Promise<Bench> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const { host, port } = serverOf(kc);
  const proxy = new CountingProxy(host, port);
  const proxyPort = await proxy.listen();
  const cliKubeconfig = join(tmp, 'kubeconfig-via-proxy.json');
  proxiedKubeconfig(kc, proxyPort, cliKubeconfig);
  const admin = await apiFor(kc, 16);
  const counts = countsFor(options.scale, options.bigSecrets);
  return {
    options,
    counts,
    kc,
    admin,
    proxy,
    proxyPort,
    tmp,
    cliKubeconfig,
    runs: 0,
    failures: [],
    runtime: options.plainNode ? { nodeFlags: [], env: {} } : imageRuntime(),
  };
}

interface Results {
  steps: Step[];
  floor: Step;
  long: LongRun;
  flat: FlatRun | undefined;
}

async function measure(bench: Bench): Promise<Results> {
  const { cli, baselineCli } = bench.options;
  const state = join(bench.tmp, 'state.json');
  warn('measuring the run --once passes, and the floor');
  const baseline = await onceStep(
    bench,
    'baseline pass (no state)',
    cli,
    cliArgs(bench, state, '--once'),
  );
  const [floorStep, steady] = await floorAndSteady(bench, state);
  const steps = [floorStep, baseline, steady];
  steps.push(await changeStep(bench, '10 ConfigMaps changed', state, tenConfigMaps(bench)));
  steps.push(await changeStep(bench, 'one 256 KiB Secret changed', state, bigSecret(bench)));
  warn('measuring the cold start');
  const clis: [string, string][] = [['cold start: --cli', cli]];
  if (baselineCli) clis.push(['cold start: --baseline-cli', baselineCli]);
  steps.push(...(await coldStarts(bench, clis)));
  warn(`measuring the long-running mode for ${bench.options.longRunningSeconds} s`);
  const { step, detail } = await longRunning(bench, state);
  steps.push(step);
  const { flatPasses } = bench.options;
  if (flatPasses > 0) warn(`measuring ${flatPasses} passes at --interval 1s`);
  const flat = flatPasses > 0 ? await flatRun(bench, state) : undefined;
  return { steps, floor: floorStep, long: detail, flat };
}

/** Synchronous clean-ups, last registered first: run by main's `finally`, or on a signal. */
const cleanups: (() => void)[] = [];

function cleanUp(): void {
  stopAll();
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const host = machine();
  const { kubeconfig, started } = cluster(options);
  if (started && !options.keepCluster) cleanups.push(() => clusterScript('down'));
  const tmp = mkdtempSync(join(tmpdir(), 'polling-reloader-bench-'));
  cleanups.push(() => {
    rmSync(tmp, { recursive: true, force: true });
  });
  let bench: Bench | undefined;
  try {
    bench = await setUp(options, kubeconfig, tmp);
    warn(`scale ${options.scale}: ${JSON.stringify(bench.counts)}`);
    if (!options.skipPopulate) warn(`populated: ${await populate(bench)} objects created`);
    const results = await measure(bench);
    host.loadEnd = loadavg();
    report(bench, host, results);
    return bench.failures.length > 0 ? 1 : 0;
  } finally {
    stopAll();
    bench?.admin.agent.destroy();
    await bench?.proxy.close();
    cleanUp();
  }
}

function report(bench: Bench, host: Machine, r: Results): void {
  const out = [markdown(r.steps, r.floor), '', longRunLine(r.long)];
  if (r.flat) out.push(flatLine(r.flat));
  for (const step of r.steps) if (step.check) out.push(`check, ${step.name}: ${step.check}`);
  out.push(...notes.map((n) => `note: ${n}`), runtimeLine(bench.runtime), machineLine(host));
  process.stdout.write(`${out.join('\n')}\n`);
  const { options, counts, failures } = bench;
  const json = {
    machine: host,
    options,
    counts,
    steps: r.steps,
    longRunning: r.long,
    flat: r.flat,
    failures,
    notes,
    runtime: bench.runtime,
  };
  if (options.out) writeFileSync(options.out, `${JSON.stringify(json, null, 2)}\n`);
  for (const failure of failures) warn(`FAILED: ${failure}`);
}

// Children run in process groups of their own: an interrupted bench must stop them itself, and the
// control plane it started.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    warn(`${signal}: stopping what the bench started`);
    cleanUp();
    process.exit(130);
  });
}

try {
  process.exitCode = await main();
} catch (err) {
  warn(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
}
