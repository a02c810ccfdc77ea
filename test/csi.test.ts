// --enable-csi-integration (SPEC §7): SecretProviderClasses as sources, as Reloader has them. No
// CSI driver runs on the test control plane: the tests write the SecretProviderClassPodStatus
// objects the driver would (created when a pod mounts a class, updated when it rotates one).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it, type TestContext } from 'node:test';
import { ApiextensionsV1Api, type V1Container, type V1PodSpec } from '@kubernetes/client-node';
import { Api, type RequestOptions } from '../src/api.js';
import { openStateStore } from '../src/configmap-state.js';
import { reloaderPodStatusSha } from '../src/csi.js';
import { loadConnection } from '../src/kubeconfig.js';
import { parseRunFlags, passOptions } from '../src/options.js';
import { runPass, type PassReport } from '../src/pass.js';
import { cli } from './cli.js';
import { installPodStatusCrd, podStatusApiVersion, writePodStatus } from './csi-crd.js';
import { denyUpdates, image, kc, objects, reloaded, World } from './harness.js';
import { eventually } from './kube.js';

const csi = '--enable-csi-integration=true';
const auto = { 'reloader.stakater.com/auto': 'true' };
const spc = 'vault-db';
const version = (v: string) => [
  { id: 'secret/db-password', version: v },
  { id: 'secret/db-user', version: '1' },
];

/** A container that mounts the CSI volume `secrets`. */
function mounting(name: string): V1Container {
  return { name, image, volumeMounts: [{ name: 'secrets', mountPath: '/mnt/secrets' }] };
}

/** A pod spec whose volume `secrets` is the CSI driver's, for SecretProviderClass `spc`. */
function csiPodSpec(containers: V1Container[] = [mounting('app')]): V1PodSpec {
  return {
    containers,
    volumes: [
      {
        name: 'secrets',
        csi: {
          driver: 'secrets-store.csi.k8s.io',
          readOnly: true,
          volumeAttributes: { secretProviderClass: spc },
        },
      },
    ],
  };
}

/** The program's client, recording the path of every request. */
class RecordingApi extends Api {
  readonly paths: string[] = [];

  override async request<T>(options: RequestOptions): Promise<T> {
    this.paths.push(options.path);
    return super.request<T>(options);
  }
}

/** One pass as `World.pass` runs it, on a recording client: its report and request paths. */
async function recordedPass(
  t: TestContext,
  world: World,
  ...args: string[]
): Promise<{ report: PassReport; paths: string[] }> {
  const api = new RecordingApi(loadConnection({ kubeconfig: process.env.TEST_KUBECONFIG }));
  t.after(() => {
    api.close();
  });
  const flags = parseRunFlags([...world.baseArgs(), `--namespaces=${world.namespace}`, ...args]);
  const store = await openStateStore(api, flags.state);
  const report = await runPass({ api, store, now: () => new Date() }, passOptions(flags));
  return { report, paths: api.paths };
}

const podStatusLists = (paths: string[]) =>
  paths.filter((p) => p.includes('/secretproviderclasspodstatuses'));

/** A container's env, by name. */
async function envOf(world: World, deployment: string, container: string) {
  const obj = await world.read('Deployment', deployment);
  const spec = obj.spec as { template: { spec: V1PodSpec } };
  const found = spec.template.spec.containers.find((c) => c.name === container);
  return Object.fromEntries((found?.env ?? []).map((e) => [e.name, e.value]));
}

describe('--enable-csi-integration: SecretProviderClassPodStatus sources', () => {
  before(installPodStatusCrd);

  it("rolls what names or auto-reloads the class when a pod status's object versions change; not a new pod's; once", async (t) => {
    const world = await World.create(t);
    const ns = world.namespace;
    await writePodStatus(ns, 'web-1', spc, version('1'));
    const spcAuto = { 'secretproviderclass.reloader.stakater.com/auto': 'true' };
    const exclude = {
      'secretproviderclasses.exclude.reloader.stakater.com/reload': `other,${spc}`,
    };
    await world.deployment('named', {
      annotations: { 'secretproviderclass.reloader.stakater.com/reload': 'vault-.*' },
      podSpec: { containers: [{ name: 'app', image }] },
    });
    await world.deployment('auto', { annotations: auto, podSpec: csiPodSpec() });
    await world.deployment('typed', { templateAnnotations: spcAuto, podSpec: csiPodSpec() });
    await world.deployment('excluded', {
      annotations: { ...auto, ...exclude },
      podSpec: csiPodSpec(),
    });
    await world.deployment('secret-auto', {
      annotations: { 'secret.reloader.stakater.com/auto': 'true' },
      podSpec: csiPodSpec(),
    });
    await world.deployment('plain', { podSpec: csiPodSpec() });
    await world.deployment('not-mounting', {
      annotations: auto,
      podSpec: { containers: [{ name: 'app', image }] },
    });

    assert.deepEqual(reloaded(await world.pass(csi)), [], 'the baseline rolls nothing');
    assert.deepEqual(reloaded(await world.pass(csi)), [], 'nothing moved');

    // A new pod mounts the class at a newer version: a creation, which Reloader ignores.
    await writePodStatus(ns, 'web-2', spc, version('2'));
    const created = await world.pass(csi);
    assert.deepEqual(reloaded(created), [], 'a new pod status rolls nothing');

    // The driver rotates the mount of the first pod: an update.
    await writePodStatus(ns, 'web-1', spc, version('2'));
    const rotated = await world.pass(csi);
    assert.deepEqual(reloaded(rotated), [
      'Deployment/auto',
      'Deployment/named',
      'Deployment/typed',
    ]);
    assert.deepEqual(
      rotated.changes.map((c) => `${c.kind}/${c.name} ${c.type}`),
      [`SecretProviderClass/${spc} updated`],
    );
    const rules = Object.fromEntries(
      rotated.outcomes.map((o) => [o.reload.workload.name, o.reload.triggers[0]?.rule]),
    );
    assert.deepEqual(rules, { auto: 'auto', named: 'reload-list', typed: 'typed-auto' });

    const last = JSON.parse(
      (await world.templateAnnotations('Deployment', 'auto'))[
        'reloader.stakater.com/last-reloaded-from'
      ] ?? '{}',
    ) as Record<string, unknown>;
    assert.equal(last.type, 'SECRETPROVIDERCLASS');
    assert.equal(last.name, spc);
    assert.deepEqual(last.containerRefs, ['app']);
    assert.match(String(last.hash), /^[0-9a-f]{40}$/);

    // The other pods rotate to the same versions: nothing new.
    await writePodStatus(ns, 'web-2', spc, version('2'));
    assert.deepEqual(reloaded(await world.pass(csi)), [], 'once');
  });

  it('without the flag, nothing rolls and no SecretProviderClassPodStatus is listed; with it, one list a pass, and a steady pass writes nothing', async (t) => {
    const world = await World.create(t);
    await writePodStatus(world.namespace, 'web-1', spc, version('1'));
    await world.deployment('web', { annotations: auto, podSpec: csiPodSpec() });
    const before = await world.template('Deployment', 'web');

    const baseline = await recordedPass(t, world);
    await writePodStatus(world.namespace, 'web-1', spc, version('2'));
    const off = await recordedPass(t, world);
    assert.deepEqual(reloaded(off.report), []);
    assert.deepEqual(podStatusLists([...baseline.paths, ...off.paths]), [], 'no request for them');
    assert.equal(await world.template('Deployment', 'web'), before, 'nothing rolled');

    // Turned on later: the class is seen for the first time (nothing rolls), then its update.
    const first = await recordedPass(t, world, csi);
    assert.deepEqual(reloaded(first.report), []);
    assert.deepEqual(podStatusLists(first.paths), [
      `/apis/secrets-store.csi.x-k8s.io/v1/namespaces/${world.namespace}/secretproviderclasspodstatuses`,
    ]);
    await writePodStatus(world.namespace, 'web-1', spc, version('3'));
    const on = await recordedPass(t, world, csi);
    assert.deepEqual(reloaded(on.report), ['Deployment/web']);
    assert.equal(podStatusLists(on.paths).length, 1, 'one list of them in the pass');

    // A steady pass (SPEC §9): the one list, no workload listed, no state written.
    const steady = await recordedPass(t, world, csi);
    assert.deepEqual(steady.report.changes, []);
    assert.equal(steady.report.workloads, undefined, 'no workload listed');
    assert.equal(steady.report.saved, false, 'no state written');
    assert.equal(podStatusLists(steady.paths).length, 1);
  });

  it('env-vars: STAKATER_<NAME>_SECRETPROVIDERCLASS on the container that mounts the class, a keyed hash', async (t) => {
    const world = await World.create(t);
    await writePodStatus(world.namespace, 'web-1', spc, version('1'));
    await world.deployment('web', {
      annotations: auto,
      podSpec: csiPodSpec([{ name: 'sidecar', image }, mounting('app')]),
    });
    const envVars = '--reload-strategy=env-vars';
    await world.pass(csi, envVars);
    await writePodStatus(world.namespace, 'web-1', spc, version('2'));
    assert.deepEqual(reloaded(await world.pass(csi, envVars)), ['Deployment/web']);

    const variable = 'STAKATER_VAULT_DB_SECRETPROVIDERCLASS';
    const first = (await envOf(world, 'web', 'app'))[variable];
    assert.match(first ?? '', /^[0-9a-f]{40}$/);
    assert.deepEqual(await envOf(world, 'web', 'sidecar'), {}, 'not on the container without it');
    const reloaders = reloaderPodStatusSha({
      secretProviderClassName: spc,
      objects: version('2'),
    });
    assert.notEqual(first, reloaders, "keyed, not Reloader's plain SHA1");

    await writePodStatus(world.namespace, 'web-1', spc, version('3'));
    assert.deepEqual(reloaded(await world.pass(csi, envVars)), ['Deployment/web']);
    const second = (await envOf(world, 'web', 'app'))[variable];
    assert.match(second ?? '', /^[0-9a-f]{40}$/);
    assert.notEqual(second, first, 'the variable moves with the versions');
  });

  it('a reload that fails keeps the update pending: the next pass rolls it, once', async (t) => {
    const world = await World.create(t);
    await writePodStatus(world.namespace, 'web-1', spc, version('1'));
    await writePodStatus(world.namespace, 'web-2', spc, version('1'));
    await world.deployment('web', { annotations: auto, podSpec: csiPodSpec() });
    await world.pass(csi);
    const before = await world.template('Deployment', 'web');

    const lift = await denyUpdates(t, world.namespace, 'web');
    await writePodStatus(world.namespace, 'web-1', spc, version('2'));
    const refused = await world.passAllowingFailures(csi);
    assert.deepEqual(
      refused.outcomes.map((o) => o.outcome.status),
      ['failed'],
    );
    assert.deepEqual(refused.pending, [`${world.namespace}/SecretProviderClass/${spc}`]);
    // Meanwhile the other pod rotates too: the update is still there to see.
    await writePodStatus(world.namespace, 'web-2', spc, version('2'));
    await lift();

    assert.deepEqual(reloaded(await world.pass(csi)), ['Deployment/web']);
    assert.notEqual(await world.template('Deployment', 'web'), before);
    assert.deepEqual(reloaded(await world.pass(csi)), [], 'once');
  });

  it('switching from Reloader: its SECRETPROVIDERCLASS records of older versions roll at the first pass; a current one does not', async (t) => {
    const world = await World.create(t);
    const ns = world.namespace;
    await writePodStatus(ns, 'web-1', spc, version('2'));
    await writePodStatus(ns, 'web-2', spc, version('2'));
    // Reloader's SHA1 of a pod status, spelled out: id=version and the class, sorted, joined by ;.
    const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');
    const older = sha1(`SecretProviderClassName=${spc};secret/db-password=1;secret/db-user=1`);
    const current = sha1(`SecretProviderClassName=${spc};secret/db-password=2;secret/db-user=1`);
    const withEnv = (hash: string) =>
      csiPodSpec([
        Object.assign(mounting('app'), {
          env: [{ name: 'STAKATER_VAULT_DB_SECRETPROVIDERCLASS', value: hash }],
        }),
      ]);
    await world.deployment('stale', { annotations: auto, podSpec: withEnv(older) });
    await world.deployment('current', { annotations: auto, podSpec: withEnv(current) });
    const lastReloadedFrom = JSON.stringify({
      type: 'SECRETPROVIDERCLASS',
      name: spc,
      namespace: ns,
      hash: older,
      containerRefs: ['app'],
      observedAt: 1_700_000_000,
    });
    await world.deployment('stale-annotation', {
      annotations: auto,
      templateAnnotations: { 'reloader.stakater.com/last-reloaded-from': lastReloadedFrom },
      podSpec: csiPodSpec(),
    });

    const without = await world.pass('--dry-run');
    assert.deepEqual(without.plan.reloads, [], 'without the flag, no class is compared');
    const first = await world.pass(csi);
    assert.deepEqual(reloaded(first), ['Deployment/stale', 'Deployment/stale-annotation']);
    for (const o of first.outcomes) assert.equal(o.reload.triggers[0]?.reason, 'reloader-outdated');
    assert.deepEqual(reloaded(await world.pass(csi)), [], 'once');
  });

  // Last: it removes the CRD (the tests that need it install it again).
  describe('when the CRD is not installed', () => {
    after(installPodStatusCrd);

    it('the flag is a one-line error before anything is done', async (t) => {
      const world = await World.create(t);
      await removePodStatusCrd();
      const args = ['--once', `--state=${world.statePath}`, `--namespaces=${world.namespace}`];
      const env = {
        KUBECONFIG: process.env.TEST_KUBECONFIG ?? '',
        POLLING_RELOADER_LEASE_NAMESPACE: world.namespace,
      };
      const result = await cli([...args, csi], env);
      assert.equal(result.code, 1, result.stderr);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(
        lines[0] ?? '',
        /^polling-reloader: error: --enable-csi-integration: the cluster does not serve secretproviderclasspodstatuses\.secrets-store\.csi\.x-k8s\.io\/v1/,
      );
      const without = await cli(args, env);
      assert.equal(without.code, 0, without.stderr);
    });
  });
});

async function removePodStatusCrd(): Promise<void> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const name = 'secretproviderclasspodstatuses.secrets-store.csi.x-k8s.io';
  await api.deleteCustomResourceDefinition({ name }).catch((err: unknown) => {
    if ((err as { code?: number }).code !== 404) throw err;
  });
  await eventually(
    'the SecretProviderClassPodStatus API to be gone',
    async () => {
      try {
        await objects.list(podStatusApiVersion, 'SecretProviderClassPodStatus', 'default');
        return undefined;
      } catch (err) {
        return (err as { code?: number }).code === 404 ? true : undefined;
      }
    },
    120_000,
  );
}
