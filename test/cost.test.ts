// What a pass costs the API server (README, "Change detection"): ConfigMaps and Secrets listed as
// metadata, content read only for what moved, no workload list and no state write when nothing
// changed, and a list that survives an expired continue token. Every request is audited on the
// program's own client, against the real control plane.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
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
import type { V1PodSpec } from '@kubernetes/client-node';
import { api, container, core, kc, reloaded, World, type WorkloadSpec } from './harness.js';
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
  return auditedPassWith(audited, world, [`--namespaces=${world.namespace}`, ...args]);
}

/** One pass with the world's state and Lease, on the audited client, with these flags only. */
async function auditedPassWith(
  audited: AuditedApi,
  world: World,
  args: string[],
): Promise<{ report: PassReport; calls: Call[] }> {
  const from = audited.calls.length;
  const flags = parseRunFlags([...world.baseArgs(), ...args]);
  const store = await openStateStore(audited, flags.state);
  const report = await runPass({ api: audited, store, now: () => new Date() }, passOptions(flags));
  const failed = report.outcomes.filter((o) => o.outcome.status === 'failed');
  assert.deepEqual(failed, [], 'no reload failed');
  return { report, calls: audited.calls.slice(from) };
}

const workloadPath =
  /\/(deployments|statefulsets|daemonsets|cronjobs|jobs|rollouts)(\/|$)|\/apis\/argoproj\.io/;

const workloadPlurals = [
  'cronjobs',
  'daemonsets',
  'deployments',
  'jobs',
  'rollouts',
  'statefulsets',
];

/**
 * The workload lists a pass asked for, once each, sorted: `namespace/plural`, or `*\/plural` for
 * a cluster-wide list (a Rollout list is asked for, and answered 404, where the API is missing).
 */
function workloadLists(calls: Call[]): string[] {
  const list =
    /^\/apis\/[^/]+\/[^/]+(?:\/namespaces\/([^/]+))?\/(cronjobs|daemonsets|deployments|jobs|rollouts|statefulsets)$/;
  const out = new Set<string>();
  for (const c of calls) {
    const match = c.method === 'GET' ? list.exec(c.path) : null;
    if (match) out.add(`${match[1] ?? '*'}/${match[2] ?? ''}`);
  }
  return [...out].sort();
}

/** Every kind listed in each of these namespaces (`*`: cluster-wide). */
function listedIn(...namespaces: string[]): string[] {
  return namespaces.flatMap((ns) => workloadPlurals.map((p) => `${ns}/${p}`)).sort();
}

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
  // Of the state, its head alone: its fingerprint says that nothing moved, so no part is read.
  assert.deepEqual(
    contentRead(calls, 'configmaps').filter((n) => n !== 'state'),
    [],
    `no ConfigMap content read but the state's head:\n${log}`,
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

describe('which workloads a pass lists', () => {
  /** A node selector that no node of the test control plane has: the pod stays Pending. */
  const nowhere = { 'polling-reloader.test/no-such-node': 'true' };

  /** A Deployment that auto-reloads on the ConfigMaps it reads. */
  const reading = (configMap: string, more: Partial<V1PodSpec> = {}): WorkloadSpec => ({
    annotations: auto,
    podSpec: { ...more, containers: [container('app', { configMaps: [configMap] })] },
  });

  /** Two worlds, `a` and `b`, each with ConfigMap `app` and Deployment `web` that reads it. */
  async function twoNamespaces(t: TestContext): Promise<{ a: World; b: World }> {
    const a = await World.create(t);
    const b = await World.create(t);
    for (const world of [a, b]) {
      await world.configMap('app', { v: '1' });
      await world.deployment('web', reading('app'));
    }
    return { a, b };
  }

  const changed = (report: PassReport): string[] =>
    report.changes.map((c) => `${c.namespace}/${c.kind}/${c.name}`);
  const rolledIds = (report: PassReport): string[] =>
    report.outcomes
      .map(({ reload: { workload: w } }) => `${w.namespace}/${w.kind}/${w.name}`)
      .sort();

  it('a baseline lists every workload in scope; a change lists and rolls those of its namespace only', async (t) => {
    const { a, b } = await twoNamespaces(t);
    // A cluster-wide scope, narrowed to the two namespaces by a label of this test's own.
    for (const world of [a, b]) {
      await core.patchNamespace({
        name: world.namespace,
        body: [
          { op: 'add', path: '/metadata/labels/polling-reloader.test~1group', value: a.namespace },
        ],
      });
    }
    const scope = [`--namespace-selector=polling-reloader.test/group=${a.namespace}`];
    const audited = auditedApi(t);
    const baseline = await auditedPassWith(audited, a, scope);
    assert.equal(baseline.report.baseline, true);
    assert.deepEqual(
      workloadLists(baseline.calls),
      listedIn('*'),
      `a baseline lists each kind cluster-wide:\n${show(baseline.calls)}`,
    );
    assert.equal(baseline.report.workloads, 2, 'the Deployments of both namespaces, no other');
    assert.equal(baseline.report.workloadNamespaces, undefined);
    assert.deepEqual(workloadLists((await auditedPassWith(audited, a, scope)).calls), []);
    const before = {
      a: await a.template('Deployment', 'web'),
      b: await b.template('Deployment', 'web'),
    };

    await a.setConfigMap('app', { v: '2' });
    const pass = await auditedPassWith(audited, a, scope);
    assert.deepEqual(changed(pass.report), [`${a.namespace}/ConfigMap/app`]);
    assert.deepEqual(
      workloadLists(pass.calls),
      listedIn(a.namespace),
      `each kind listed in the changed namespace only:\n${show(pass.calls)}`,
    );
    assert.deepEqual(rolledIds(pass.report), [`${a.namespace}/Deployment/web`]);
    assert.notEqual(await a.template('Deployment', 'web'), before.a, "a's web rolled");
    assert.equal(await b.template('Deployment', 'web'), before.b, "b's did not");
    assert.equal(pass.report.workloads, 1, 'the report counts the workloads listed');
    assert.deepEqual(pass.report.workloadNamespaces, [a.namespace]);
  });

  it('a rollout paused in one namespace is resumed by a pass whose only change is in another (--namespaces)', async (t) => {
    const { a, b } = await twoNamespaces(t);
    await b.configMap('cfg', { v: '1' });
    const period = { 'deployment.reloader.stakater.com/pause-period': '4s' };
    const spec = reading('cfg');
    await b.deployment('paused', { ...spec, annotations: { ...auto, ...period } });
    const scope = [`--namespaces=${a.namespace},${b.namespace}`];
    const audited = auditedApi(t);
    await auditedPassWith(audited, a, scope);
    await b.setConfigMap('cfg', { v: '2' });
    assert.deepEqual(rolledIds((await auditedPassWith(audited, a, scope)).report), [
      `${b.namespace}/Deployment/paused`,
    ]);
    await b.setConfigMap('cfg', { v: '3' });
    const pausing = await auditedPassWith(audited, a, scope);
    assert.deepEqual(workloadLists(pausing.calls), listedIn(b.namespace), show(pausing.calls));
    const paused = await b.read('Deployment', 'paused');
    assert.equal(paused.spec?.paused, true, 'a change inside the period pauses the rollout');
    const at = paused.metadata?.annotations?.['deployment.reloader.stakater.com/paused-at'] ?? '';
    await sleep(Math.max(0, Date.parse(at) + 4500 - Date.now()));

    await a.setConfigMap('app', { v: '2' });
    const resuming = await auditedPassWith(audited, a, scope);
    assert.deepEqual(
      changed(resuming.report),
      [`${a.namespace}/ConfigMap/app`],
      'a change in a only',
    );
    assert.notEqual((await b.read('Deployment', 'paused')).spec?.paused, true, 'resumed');
    assert.deepEqual(
      workloadLists(resuming.calls),
      listedIn(a.namespace, b.namespace),
      `b is listed for its paused rollout:\n${show(resuming.calls)}`,
    );
    assert.deepEqual(
      rolledIds(resuming.report),
      [`${a.namespace}/Deployment/web`, `${b.namespace}/Deployment/paused`].sort(),
    );

    // The state still names the rollout (it was listed paused): a next pass sees it resumed.
    await auditedPassWith(audited, a, scope);
    await a.setConfigMap('app', { v: '3' });
    const later = await auditedPassWith(audited, a, scope);
    assert.deepEqual(
      workloadLists(later.calls),
      listedIn(a.namespace),
      `nothing pending in b any more:\n${show(later.calls)}`,
    );
    assert.deepEqual(rolledIds(later.report), [`${a.namespace}/Deployment/web`]);
  });

  it('--wait-healthy: a rollout awaited in one namespace holds a batch whose only change is in another', async (t) => {
    const { a, b } = await twoNamespaces(t);
    await b.configMap('cfg', { v: '1' });
    await b.deployment('stuck', reading('cfg', { nodeSelector: nowhere }));
    const flags = [`--namespaces=${a.namespace},${b.namespace}`, '--wait-healthy'];
    const audited = auditedApi(t);
    await auditedPassWith(audited, a, flags);
    await b.setConfigMap('cfg', { v: '2' });
    assert.deepEqual(rolledIds((await auditedPassWith(audited, a, flags)).report), [
      `${b.namespace}/Deployment/stuck`,
    ]);
    const before = await a.template('Deployment', 'web');

    await a.setConfigMap('app', { v: '2' });
    const held = await auditedPassWith(audited, a, flags);
    assert.deepEqual(changed(held.report), [`${a.namespace}/ConfigMap/app`], 'a change in a only');
    assert.deepEqual(rolledIds(held.report), [], 'the batch waits');
    assert.equal(await a.template('Deployment', 'web'), before, "a's web did not roll");
    assert.deepEqual(
      held.report.batch.blocking.map((w) => w.id),
      [`${b.namespace}/Deployment/stuck`],
    );
    assert.deepEqual(
      workloadLists(held.calls),
      listedIn(a.namespace, b.namespace),
      `b is listed for the rollout awaited there:\n${show(held.calls)}`,
    );
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
