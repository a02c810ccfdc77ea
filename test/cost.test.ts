// What a pass costs the API server (README, "Change detection"): ConfigMaps and Secrets listed as
// metadata, content read only for what moved, no workload list and no state write when nothing
// changed, and a list that survives an expired continue token. Every request is audited on the
// program's own client, against the real control plane.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import {
  Api,
  listAll,
  metadataListAccept,
  metadataListProtobufAccept,
  resourcePath,
  resources,
  type RequestOptions,
} from '../src/api.js';
import { openStateStore } from '../src/configmap-state.js';
import { statusOf } from '../src/errors.js';
import { loadConnection } from '../src/kubeconfig.js';
import { parseRunFlags, passOptions } from '../src/options.js';
import { runPass, type PassReport } from '../src/pass.js';
import { api, container, core, kc, reloaded, World } from './harness.js';
import { eventually, testNamespace } from './kube.js';

const auto = { 'reloader.stakater.com/auto': 'true' };
const hashKeyName = 'polling-reloader-hash-key';
/** The ConfigMaps of `--state=configmap:NS/state`: the head and its parts. */
const stateParts = /^state(-[0-9a-f]+-\d+)?$/;

/** One request the program made, and what came back. */
interface Call {
  method: string;
  path: string;
  accept: string | undefined;
  query: RequestOptions['query'];
  /** HTTP status: 200 for any success, else the error's. */
  status: number;
  /** Names of the objects the answer held: a list's items, or the one object read. */
  names: string[];
}

/** The program's client, recording every request it makes (one entry per request, retries aside). */
class AuditedApi extends Api {
  readonly calls: Call[] = [];

  override async request<T>(options: RequestOptions): Promise<T> {
    const call: Call = {
      method: options.method ?? 'GET',
      path: options.path,
      accept: options.accept,
      query: options.query,
      status: 200,
      names: [],
    };
    this.calls.push(call);
    try {
      const answer = await super.request<T>(options);
      call.names = namesIn(answer);
      return answer;
    } catch (err) {
      call.status = statusOf(err) ?? -1;
      throw err;
    }
  }
}

interface Named {
  metadata?: { name?: string };
}

function namesIn(answer: unknown): string[] {
  const body = answer as (Named & { items?: Named[] | null }) | undefined;
  if (Array.isArray(body?.items)) return body.items.map((i) => i.metadata?.name ?? '');
  return body?.metadata?.name ? [body.metadata.name] : [];
}

function auditedApi(t: TestContext): AuditedApi {
  const audited = new AuditedApi(loadConnection({ kubeconfig: process.env.TEST_KUBECONFIG }));
  t.after(() => {
    audited.close();
  });
  return audited;
}

/** One pass as `World.pass` runs it (scoped to the world's namespace), on the audited client. */
async function auditedPass(
  audited: AuditedApi,
  world: World,
  ...args: string[]
): Promise<{ report: PassReport; calls: Call[] }> {
  const from = audited.calls.length;
  const flags = parseRunFlags([...world.baseArgs(), `--namespaces=${world.namespace}`, ...args]);
  const store = await openStateStore(audited, flags.state);
  const report = await runPass({ api: audited, store, now: () => new Date() }, passOptions(flags));
  const failed = report.outcomes.filter((o) => o.outcome.status === 'failed');
  assert.deepEqual(failed, [], 'no reload failed');
  return { report, calls: audited.calls.slice(from) };
}

const workloadPath =
  /\/(deployments|statefulsets|daemonsets|cronjobs|jobs|rollouts)(\/|$)|\/apis\/argoproj\.io/;

function describeCall(c: Call): string {
  return `${c.method} ${c.path} accept=${c.accept ?? '-'} -> ${c.status} [${c.names.join(',')}]`;
}

function show(calls: Call[]): string {
  return calls.map(describeCall).join('\n');
}

/** Requests for ConfigMaps (or Secrets): the collection or one object. */
function onPlural(calls: Call[], plural: 'configmaps' | 'secrets'): Call[] {
  return calls.filter((c) => new RegExp(`/${plural}(/[^/]+)?$`).test(c.path));
}

/** Whether a request asked for metadata only (as JSON, or protobuf first). */
function metadataOnly(accept: string | undefined): boolean {
  return accept === metadataListAccept || accept === metadataListProtobufAccept;
}

/** Names of the objects whose content (data) came back: every GET that is not metadata only. */
function contentRead(calls: Call[], plural: 'configmaps' | 'secrets'): string[] {
  return onPlural(calls, plural)
    .filter((c) => c.method === 'GET' && !metadataOnly(c.accept))
    .flatMap((c) => c.names)
    .sort();
}

/** What every steady pass must show, whatever the state store: the audit of its requests. */
function assertSteady({ report, calls }: { report: PassReport; calls: Call[] }): void {
  const log = show(calls);
  assert.deepEqual(report.changes, [], 'nothing changed');
  assert.equal(report.workloads, undefined, 'the report says no workload was listed');
  assert.equal(report.saved, false, 'the state was not written');
  assert.deepEqual(
    calls.filter((c) => workloadPath.test(c.path)),
    [],
    `no request for workloads:\n${log}`,
  );
  // The sources: every ConfigMap and Secret of the namespace, one list of each, metadata only. (A
  // list narrowed by a label selector of the reloader's own, such as its Job stashes, is not one.)
  const sourceLists = calls.filter(
    (c) =>
      c.method === 'GET' &&
      /\/(configmaps|secrets)$/.test(c.path) &&
      c.query?.labelSelector === undefined,
  );
  assert.deepEqual(
    sourceLists.map((c) => c.path.slice(c.path.lastIndexOf('/') + 1)).sort(),
    ['configmaps', 'secrets'],
    `ConfigMaps and Secrets were listed once each:\n${log}`,
  );
  for (const c of sourceLists)
    assert.ok(metadataOnly(c.accept), `listed as metadata only:\n${log}`);
  assert.deepEqual(
    contentRead(calls, 'configmaps').filter((n) => !stateParts.test(n)),
    [],
    `no ConfigMap content read but the state's own:\n${log}`,
  );
  assert.deepEqual(
    contentRead(calls, 'secrets'),
    [hashKeyName],
    `no Secret content read but the hash key's:\n${log}`,
  );
  assert.equal(report.api.requests, calls.length, "the report's count matches the audit");
}

/** A world of one ConfigMap and one Secret, each used by an auto-reloaded Deployment of its own. */
async function twoSourceWorld(t: TestContext): Promise<World> {
  const world = await World.create(t);
  await world.configMap('app', { v: '1' });
  await world.secret('creds', { password: 'one' });
  await world.deployment('web', {
    annotations: auto,
    podSpec: { containers: [container('app', { configMaps: ['app'] })] },
  });
  await world.deployment('api', {
    annotations: auto,
    podSpec: { containers: [container('api', { secrets: ['creds'] })] },
  });
  return world;
}

async function templates(world: World): Promise<{ web: string; api: string }> {
  return {
    web: await world.template('Deployment', 'web'),
    api: await world.template('Deployment', 'api'),
  };
}

describe('what a pass costs the API server', () => {
  it('a content change is detected when only data changes', async (t) => {
    const world = await twoSourceWorld(t);
    assert.equal((await world.pass()).baseline, true);
    const before = await templates(world);

    await world.setConfigMap('app', { v: '2' });
    assert.deepEqual(reloaded(await world.pass()), ['Deployment/web']);
    const afterConfigMap = await templates(world);
    assert.notEqual(afterConfigMap.web, before.web, "web's pod template changed");
    assert.equal(afterConfigMap.api, before.api, "api's did not");

    await world.setSecret('creds', { password: 'two' });
    assert.deepEqual(reloaded(await world.pass()), ['Deployment/api']);
    const afterSecret = await templates(world);
    assert.notEqual(afterSecret.api, afterConfigMap.api, "api's pod template changed");
    assert.equal(afterSecret.web, afterConfigMap.web, "web's did not");

    // A second change of the same object counts too (its new hash is compared, not a first read).
    await world.setConfigMap('app', { v: '3' });
    assert.deepEqual(reloaded(await world.pass()), ['Deployment/web']);
    const afterSecond = await templates(world);
    assert.notEqual(afterSecond.web, afterSecret.web, "web's pod template changed again");
    assert.equal(afterSecond.api, afterSecret.api);

    const metadataOnly = [
      { op: 'add', path: '/metadata/labels', value: { tier: 'web' } },
      { op: 'add', path: '/metadata/annotations', value: { note: 'relabelled' } },
    ];
    const { namespace } = world;
    await core.patchNamespacedConfigMap({ name: 'app', namespace, body: metadataOnly });
    await core.patchNamespacedSecret({ name: 'creds', namespace, body: metadataOnly });
    const relabelled = await world.pass();
    assert.deepEqual(relabelled.changes, [], 'labels and annotations are no change');
    assert.deepEqual(reloaded(relabelled), []);
    assert.deepEqual(await templates(world), afterSecond);
  });

  it('a steady pass makes no workload list and no state write (state file)', async (t) => {
    const world = await twoSourceWorld(t);
    const audited = auditedApi(t);
    const baseline = await auditedPass(audited, world);
    assert.equal(baseline.report.baseline, true);
    assert.equal(baseline.report.saved, true);
    const file = { mtime: statSync(world.statePath).mtimeMs, text: readFileSync(world.statePath) };

    const steady = await auditedPass(audited, world);
    assertSteady(steady);
    assert.deepEqual(
      steady.calls.filter((c) => c.method !== 'GET'),
      [],
      `a steady pass only reads:\n${show(steady.calls)}`,
    );
    assert.equal(statSync(world.statePath).mtimeMs, file.mtime, 'the state file was not rewritten');
    assert.deepEqual(readFileSync(world.statePath), file.text);
  });

  it('a steady pass makes no workload list and no state write (state in a ConfigMap of another namespace)', async (t) => {
    const world = await twoSourceWorld(t);
    const own = await testNamespace(t, kc, 's');
    await steadyWithConfigMapState(t, world, own);
  });

  it('a steady pass makes no workload list and no state write (state in a ConfigMap of a namespace in scope, as the CronJob base)', async (t) => {
    const world = await twoSourceWorld(t);
    await steadyWithConfigMapState(t, world, world.namespace);
  });

  it("after one ConfigMap changes, a pass lists workloads, reads that ConfigMap's content only, and saves", async (t) => {
    const world = await twoSourceWorld(t);
    for (let i = 0; i < 4; i++) await world.configMap(`other-${i}`, { v: String(i) });
    await world.secret('other-secret', { v: 'x' });
    const audited = auditedApi(t);
    await auditedPass(audited, world);
    assertSteady(await auditedPass(audited, world));
    const mtime = statSync(world.statePath).mtimeMs;

    await world.setConfigMap('app', { v: '2' });
    const changed = await auditedPass(audited, world);
    const log = show(changed.calls);
    assert.deepEqual(reloaded(changed.report), ['Deployment/web']);
    assert.ok(
      changed.calls.some((c) => c.method === 'GET' && c.path.endsWith('/deployments')),
      `the workloads were listed:\n${log}`,
    );
    assert.ok((changed.report.workloads ?? 0) >= 2, 'the report counts the listed workloads');
    assert.deepEqual(
      contentRead(changed.calls, 'configmaps'),
      ['app'],
      `only the changed ConfigMap's content was read:\n${log}`,
    );
    assert.deepEqual(contentRead(changed.calls, 'secrets'), [hashKeyName], log);
    assert.equal(changed.report.saved, true);
    assert.notEqual(statSync(world.statePath).mtimeMs, mtime, 'the state file was written');
  });

  it('an expired continue token restarts the list', async (t) => {
    const world = await World.create(t);
    const names = ['cm-0', 'cm-1', 'cm-2', 'cm-3', 'cm-4'];
    for (const name of names) await world.configMap(name, { v: '1' });
    const expiring = new ExpiringApi(
      loadConnection({ kubeconfig: process.env.TEST_KUBECONFIG }),
      (token) => expire(world, token),
    );
    t.after(() => {
      expiring.close();
    });
    const listed = await listAll(
      expiring,
      resourcePath(resources.configMaps, world.namespace),
      { pageSize: 2 },
      (c: Named) => (c.metadata?.name?.startsWith('cm-') ? c.metadata.name : undefined),
    );
    assert.equal(expiring.expired, 1, 'the API server answered 410 Gone to a continue token');
    assert.ok(expiring.firstPages >= 2, 'the list started again from its first page');
    assert.deepEqual([...listed].sort(), names, 'every object exactly once');
  });
});

/** Baseline, then a steady pass, with the state in ConfigMaps: the steady pass writes nothing. */
async function steadyWithConfigMapState(
  t: TestContext,
  world: World,
  stateNamespace: string,
): Promise<void> {
  const state = `--state=configmap:${stateNamespace}/state`;
  const audited = auditedApi(t);
  const baseline = await auditedPass(audited, world, state);
  assert.equal(baseline.report.saved, true);
  const stored = await stateConfigMaps(stateNamespace);
  assert.equal(stored.length, 2, 'the head and one part');
  const steady = await auditedPass(audited, world, state);
  assertSteady(steady);
  assert.deepEqual(
    steady.calls.filter((c) => c.method !== 'GET'),
    [],
    `no POST, PUT or DELETE (of the state ConfigMaps or anything else):\n${show(steady.calls)}`,
  );
  assert.deepEqual(
    await stateConfigMaps(stateNamespace),
    stored,
    'the state ConfigMaps are as they were',
  );
}

/** `name@resourceVersion` of each ConfigMap of the state. */
async function stateConfigMaps(namespace: string): Promise<string[]> {
  const list = await core.listNamespacedConfigMap({ namespace });
  return list.items
    .filter((c) => stateParts.test(c.metadata?.name ?? ''))
    .map((c) => `${c.metadata?.name ?? ''}@${c.metadata?.resourceVersion ?? ''}`)
    .sort();
}

/**
 * The program's client, with a hook run once before the first request that carries a continue
 * token (so after a first page came back); it counts first pages and the 410s it is answered.
 */
class ExpiringApi extends Api {
  expired = 0;
  firstPages = 0;
  private armed = true;

  constructor(
    connection: ConstructorParameters<typeof Api>[0],
    private readonly expire: (token: string) => Promise<void>,
  ) {
    super(connection);
  }

  override async request<T>(options: RequestOptions): Promise<T> {
    const token = options.query?.continue;
    if (token === undefined) this.firstPages++;
    else if (this.armed) {
      this.armed = false;
      await this.expire(String(token));
    }
    try {
      return await super.request<T>(options);
    } catch (err) {
      if (statusOf(err) === 410) this.expired++;
      throw err;
    }
  }
}

/**
 * Makes a continue token expire on the real API server: moves the revision, compacts etcd at it,
 * and records the compaction where kube-apiserver's own compactor does (`compact_rev_key`), so
 * that its watch cache drops the snapshots a continue could still be served from (it polls that
 * every 15 s). Returns once the token is answered 410 Gone.
 */
async function expire(world: World, token: string): Promise<void> {
  await world.setConfigMap('cm-4', { v: '2' });
  const etcd = etcdUrl();
  const revision = (
    await etcdPost<{ header: { revision: string } }>(etcd, 'kv/range', {
      key: Buffer.from('\0').toString('base64'),
    })
  ).header.revision;
  await etcdPost(etcd, 'kv/compaction', { revision, physical: true });
  await etcdPost(etcd, 'kv/put', {
    key: Buffer.from('compact_rev_key').toString('base64'),
    value: Buffer.from(revision).toString('base64'),
  });
  const path = resourcePath(resources.configMaps, world.namespace);
  await eventually(
    'the continue token to expire (410)',
    async () => {
      try {
        await api.request({ path, query: { limit: 2, continue: token } });
        return undefined;
      } catch (err) {
        if (statusOf(err) === 410) return true;
        throw err;
      }
    },
    25_000,
    500,
  );
}

/**
 * The etcd the test control plane's kube-apiserver uses: its `--etcd-servers`, read from the
 * command line of the process `scripts/cluster` recorded beside the kubeconfig (plain HTTP on
 * loopback, so etcd's JSON gateway answers).
 */
function etcdUrl(): string {
  const dir = dirname(process.env.TEST_KUBECONFIG ?? '');
  const pid = readFileSync(join(dir, 'pids', 'kube-apiserver'), 'utf8').trim();
  const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  const at = args.indexOf('--etcd-servers');
  const url = args[at + 1]?.split(',')[0];
  if (at < 0 || !url?.startsWith('http://')) {
    throw new Error(`no plain-HTTP --etcd-servers on kube-apiserver's command line (pid ${pid})`);
  }
  return url;
}

async function etcdPost<T>(etcd: string, call: string, body: unknown): Promise<T> {
  const response = await fetch(`${etcd}/v3/${call}`, {
    method: 'POST',
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`etcd ${call}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}
