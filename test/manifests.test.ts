// The deployment manifests of cronjob/ (issue 4): they render with kustomize, the API server accepts
// every object, and the RBAC they grant is exactly what a pass checks for and calls: a run as their
// ServiceAccount succeeds, and a watch is refused.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  CoreV1Api,
  KubeConfig,
  loadAllYaml,
  type KubernetesObject,
  type V1ClusterRole,
  type V1Container,
  type V1CronJob,
  type V1Deployment,
  type V1PodSpec,
  type V1PolicyRule,
} from '@kubernetes/client-node';
import { neededPermissions } from '../src/permissions.js';
import { parseRunFlags, passOptions } from '../src/options.js';
import { cli } from './cli.js';
import { apps, container, core, kc, withTemplate, World } from './harness.js';
import { eventually, tokenKubeConfig, watchStatus } from './kube.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const adminKubeconfig = process.env.TEST_KUBECONFIG ?? '';
const own = 'polling-reloader';
const ownState = `configmap:${own}/polling-reloader-state`;
const teams = ['team-a', 'team-b'];
const auto = { 'reloader.stakater.com/auto': 'true' };

let kubectlPath = '';

/** Runs a program in the repository, with `input` on its stdin; fails with its stderr. */
async function run(file: string, args: string[], input = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { cwd: root, maxBuffer: 16 * 1024 * 1024, timeout: 600_000 },
      (err, stdout, stderr) => {
        if (err) {
          const why = stderr.trim() || err.message;
          reject(new Error(`${basename(file)} ${args.join(' ')}: ${why}`));
        } else resolve(stdout);
      },
    );
    child.stdin?.end(input);
  });
}

/** The kubectl of the test control plane: `scripts/cluster build` prints its folder last. */
async function findKubectl(): Promise<string> {
  const assets = process.env.KUBEBUILDER_ASSETS;
  if (assets && existsSync(join(assets, 'kubectl'))) return join(assets, 'kubectl');
  const out = await run(join(root, 'scripts/cluster'), ['build']);
  const folder = out.trim().split('\n').at(-1) ?? '';
  const path = join(folder, 'kubectl');
  assert.ok(existsSync(path), `no kubectl in ${folder}`);
  return path;
}

async function kubectl(args: string[], input = ''): Promise<string> {
  return run(kubectlPath, [`--kubeconfig=${adminKubeconfig}`, ...args], input);
}

/** `kubectl kustomize cronjob/DIR`: the YAML text and its objects. */
async function render(dir: string): Promise<{ yaml: string; objects: KubernetesObject[] }> {
  const yaml = await kubectl(['kustomize', join(root, 'cronjob', dir)]);
  return { yaml, objects: loadAllYaml(yaml) as KubernetesObject[] };
}

/** Applies the rendered objects for real, and deletes them when the test ends. */
async function applyForReal(t: TestContext, yaml: string): Promise<void> {
  t.after(async () => {
    await kubectl(['delete', '--ignore-not-found', '--wait=false', '-f', '-'], yaml);
  });
  await kubectl(['apply', '-f', '-'], yaml);
}

/** Namespaces this file created, and deletes at its end; ones that existed are left alone. */
const createdNamespaces: string[] = [];

async function ensureNamespace(name: string): Promise<void> {
  await eventually(`namespace ${name} to exist and not be terminating`, async () => {
    try {
      const ns = await core.readNamespace({ name });
      return ns.metadata?.deletionTimestamp ? undefined : true;
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
      await core.createNamespace({ body: { metadata: { name } } });
      createdNamespaces.push(name);
      return true;
    }
  });
}

/** A token of the manifests' ServiceAccount, and a kubeconfig file that uses it. */
async function serviceAccountKubeConfig(
  t: TestContext,
): Promise<{ config: KubeConfig; path: string }> {
  const request = await core.createNamespacedServiceAccountToken({
    name: own,
    namespace: own,
    body: { spec: { audiences: [], expirationSeconds: 600 } },
  });
  const token = request.status?.token;
  assert.ok(token, 'TokenRequest returned a token');
  const config = tokenKubeConfig(kc, token);
  const dir = mkdtempSync(join(tmpdir(), 'polling-reloader-sa-'));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const path = join(dir, 'kubeconfig');
  writeFileSync(path, config.exportConfig(), { mode: 0o600 });
  return { config, path };
}

/** Every `NAMESPACE verb group/resource` the rendered Roles and ClusterRoles grant ('*': all). */
function granted(objects: KubernetesObject[]): string[] {
  const out = new Set<string>();
  for (const obj of objects) {
    if (obj.kind !== 'Role' && obj.kind !== 'ClusterRole') continue;
    const where = obj.kind === 'Role' ? (obj.metadata?.namespace ?? '?') : '*';
    for (const rule of (obj as V1ClusterRole).rules ?? []) {
      for (const entry of expand(rule)) out.add(`${where} ${entry}`);
    }
  }
  return [...out].sort();
}

function expand(rule: V1PolicyRule): string[] {
  const out: string[] = [];
  for (const group of rule.apiGroups ?? []) {
    for (const resource of rule.resources ?? []) {
      for (const verb of rule.verbs) out.push(`${verb} ${group}/${resource}`);
    }
  }
  return out;
}

/**
 * What the program checks before a pass with these flags (src/permissions.ts), plus what it may
 * call without checking: Argo Rollouts (listed only where the API exists) and the state ConfigMaps
 * in its own namespace.
 */
function expected(args: string[], rolloutNamespaces: string[]): string[] {
  const needs = neededPermissions(passOptions(parseRunFlags(args)));
  const out = new Set(
    needs.map(
      (n) =>
        `${n.namespace ?? '*'} ${n.verb} ${n.group}/${n.resource}${n.subresource ? `/${n.subresource}` : ''}`,
    ),
  );
  for (const where of rolloutNamespaces) {
    for (const verb of ['list', 'get', 'patch']) out.add(`${where} ${verb} argoproj.io/rollouts`);
  }
  for (const verb of ['get', 'create', 'update', 'delete']) out.add(`${own} ${verb} /configmaps`);
  return [...out].sort();
}

function podSpecOf(obj: KubernetesObject | undefined): V1PodSpec | undefined {
  if (obj?.kind === 'CronJob') return (obj as V1CronJob).spec.jobTemplate.spec?.template.spec;
  if (obj?.kind === 'Deployment') return (obj as V1Deployment).spec?.template.spec;
  return undefined;
}

/** The pod settings issue 4 asks of both the CronJob and the Deployment. */
function assertHardenedPod(spec: V1PodSpec | undefined, args: string[]): void {
  assert.ok(spec, 'a pod template');
  assert.equal(spec.serviceAccountName, own);
  assert.equal(spec.automountServiceAccountToken, true);
  const pod = spec.securityContext ?? {};
  assert.equal(pod.runAsNonRoot, true);
  assert.equal(pod.runAsUser, 65532);
  assert.equal(pod.seccompProfile?.type, 'RuntimeDefault');
  assert.equal(spec.containers.length, 1);
  assertHardenedContainer(spec.containers[0], args);
}

function assertHardenedContainer(c: V1Container | undefined, args: string[]): void {
  assert.ok(c, 'a container');
  assert.equal(c.image, 'polling-reloader:0.1.0');
  assert.deepEqual(c.args, args);
  const sc = c.securityContext ?? {};
  assert.equal(sc.readOnlyRootFilesystem, true);
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.deepEqual(sc.capabilities?.drop, ['ALL']);
  for (const key of ['requests', 'limits'] as const) {
    assert.ok(c.resources?.[key]?.cpu, `${key}.cpu`);
    assert.ok(c.resources[key].memory, `${key}.memory`);
  }
  const fieldOf = (name: string) =>
    c.env?.find((e) => e.name === name)?.valueFrom?.fieldRef?.fieldPath;
  assert.equal(fieldOf('POD_NAME'), 'metadata.name');
  assert.equal(fieldOf('POD_NAMESPACE'), 'metadata.namespace');
}

/** The Deployment: hardened, with its probes and /metrics on the default --metrics-address. */
function assertServedDeployment(d: V1Deployment | undefined): void {
  assert.equal(d?.spec?.replicas, 2);
  assertHardenedPod(podSpecOf(d), ['run', '--interval=10s', `--state=${ownState}`]);
  const served = podSpecOf(d)?.containers[0];
  assert.equal(served?.readinessProbe?.httpGet?.path, '/ready');
  assert.equal(served.livenessProbe?.httpGet?.path, '/live');
  assert.deepEqual(
    served.ports?.map((p) => [p.name, p.containerPort]),
    [['metrics', 9090]],
    ':9090, as Reloader',
  );
  assert.equal(served.readinessProbe.httpGet.port, 'metrics');
  assert.equal(d.spec.template.metadata?.annotations?.['prometheus.io/port'], '9090');
}

describe('deployment manifests (cronjob/)', () => {
  before(async () => {
    kubectlPath = await findKubectl();
    for (const name of [own, ...teams]) await ensureNamespace(name);
  });

  after(async () => {
    for (const name of createdNamespaces) {
      await core.deleteNamespace({ name }).catch(() => undefined);
    }
  });

  it('cronjob/cronjob, cronjob/deployment and cronjob/rbac/namespaced pass a server-side dry run', async () => {
    for (const dir of ['cronjob', 'deployment', 'rbac/namespaced']) {
      const { yaml, objects } = await render(dir);
      assert.ok(objects.length > 0, `${dir} renders objects`);
      const out = await kubectl(['apply', '--dry-run=server', '-f', '-'], yaml);
      for (const obj of objects) {
        assert.match(out, new RegExp(`${obj.metadata?.name ?? '?'} .*\\(server dry run\\)`), dir);
      }
    }
  });

  it('the CronJob and the Deployment run hardened pods with the state in a ConfigMap', async () => {
    const cron = (await render('cronjob')).objects;
    const job = cron.find((o): o is V1CronJob => o.kind === 'CronJob');
    assert.equal(job?.spec.schedule, '* * * * *');
    assert.equal(job.spec.concurrencyPolicy, 'Forbid');
    assertHardenedPod(podSpecOf(job), ['run', '--once', `--state=${ownState}`]);
    assert.ok(cron.some((o) => o.kind === 'Namespace' && o.metadata?.name === own));

    const deploy = (await render('deployment')).objects;
    assertServedDeployment(deploy.find((o): o is V1Deployment => o.kind === 'Deployment'));
    assert.ok(deploy.some((o) => o.kind === 'Namespace' && o.metadata?.name === own));
  });

  it('the RBAC grants what src/permissions.ts checks, and nothing else (never watch)', async () => {
    const base = [`--lease-namespace=${own}`, `--state=${ownState}`];
    const cluster = (await render('rbac/cluster')).objects;
    assert.deepEqual(
      granted(cluster),
      expected([...base, '--namespace-selector=team=a'], ['*']),
      'cluster variant',
    );
    const namespaced = (await render('rbac/namespaced')).objects;
    assert.ok(
      !namespaced.some((o) => o.kind?.startsWith('Cluster')),
      'no ClusterRole or ClusterRoleBinding',
    );
    assert.deepEqual(
      granted(namespaced),
      expected([...base, `--namespaces=${teams.join(',')}`], teams),
      'namespaced variant',
    );
    for (const entry of [...granted(cluster), ...granted(namespaced)]) {
      assert.doesNotMatch(entry, /^\S+ (watch|\*) /, entry);
    }
  });

  it('cluster RBAC: a run as its ServiceAccount reloads a Deployment, and a watch is refused', async (t) => {
    await applyForReal(t, (await render('rbac/cluster')).yaml);
    const sa = await serviceAccountKubeConfig(t);
    const world = await World.create(t);
    await world.configMap('app', { v: '1' });
    await world.deployment('web', {
      annotations: auto,
      podSpec: { containers: [container('app', { configMaps: ['app'] })] },
    });
    const args = [
      'run',
      '--once',
      `--kubeconfig=${sa.path}`,
      `--lease-namespace=${own}`,
      `--namespaces=${world.namespace}`,
      `--state=${world.statePath}`,
    ];
    const baseline = await cli(args);
    assert.equal(baseline.code, 0, baseline.stderr);
    const before = await world.template('Deployment', 'web');

    await world.setConfigMap('app', { v: '2' });
    const second = await cli(args);
    assert.equal(second.code, 0, second.stderr);
    assert.notEqual(await world.template('Deployment', 'web'), before, 'the Deployment rolled');

    const selector = await cli([
      ...args.filter((a) => !a.startsWith('--namespaces=')),
      `--namespace-selector=kubernetes.io/metadata.name=${world.namespace}`,
      '--dry-run',
    ]);
    assert.equal(selector.code, 0, `--namespace-selector works: ${selector.stderr}`);

    assert.equal(await watchStatus(sa.config, '/api/v1/configmaps'), 403, 'watch is forbidden');
    assert.equal(
      await watchStatus(sa.config, `/api/v1/namespaces/${world.namespace}/configmaps`),
      403,
      'watch is forbidden in a namespace too',
    );
  });

  it('namespaced RBAC: a run confined to team-a reloads there, and nothing outside is granted', async (t) => {
    await applyForReal(t, (await render('rbac/namespaced')).yaml);
    const sa = await serviceAccountKubeConfig(t);
    const namespace = 'team-a';
    const name = `web-${Date.now().toString(36)}`;
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name }, data: { v: '1' } },
    });
    await apps.createNamespacedDeployment({
      namespace,
      body: withTemplate(
        name,
        { annotations: auto, podSpec: { containers: [container('app', { configMaps: [name] })] } },
        { replicas: 1 },
      ),
    });
    t.after(async () => {
      await apps.deleteNamespacedDeployment({ name, namespace }).catch(() => undefined);
      await core.deleteNamespacedConfigMap({ name, namespace }).catch(() => undefined);
    });
    const template = async () =>
      JSON.stringify((await apps.readNamespacedDeployment({ name, namespace })).spec?.template);
    const dir = mkdtempSync(join(tmpdir(), 'polling-reloader-test-'));
    t.after(() => {
      rmSync(dir, { recursive: true, force: true });
    });
    const args = [
      'run',
      '--once',
      `--kubeconfig=${sa.path}`,
      `--lease-namespace=${own}`,
      `--namespaces=${namespace}`,
      `--state=${join(dir, 'state.json')}`,
    ];
    const baseline = await cli(args);
    assert.equal(baseline.code, 0, baseline.stderr);
    const before = await template();

    const cm = await core.readNamespacedConfigMap({ name, namespace });
    cm.data = { v: '2' };
    await core.replaceNamespacedConfigMap({ name, namespace, body: cm });
    const second = await cli(args);
    assert.equal(second.code, 0, second.stderr);
    assert.notEqual(await template(), before, 'the Deployment rolled');

    const everywhere = await cli(args.filter((a) => !a.startsWith('--namespaces=')));
    assert.equal(everywhere.code, 1, 'a cluster-wide run is refused');
    assert.match(everywhere.stderr, /missing permission: .*list configmaps cluster-wide/);

    assert.equal(
      await watchStatus(sa.config, `/api/v1/namespaces/${namespace}/configmaps`),
      403,
      'watch is forbidden',
    );
    const outside = sa.config.makeApiClient(CoreV1Api);
    await assert.rejects(
      outside.listNamespacedConfigMap({ namespace: 'default' }),
      (err: { code?: number }) => err.code === 403,
      'no access outside the listed namespaces',
    );
  });
});
