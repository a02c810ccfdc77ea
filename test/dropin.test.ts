// SPEC §7: polling-reloader in place of a Reloader installation: its invocation, its flags, its
// webhook mode.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it, type TestContext } from 'node:test';
import { cli, startCli } from './cli.js';
import { RbacAuthorizationV1Api, type V1PolicyRule } from '@kubernetes/client-node';
import { installPodStatusCrd } from './csi-crd.js';
import { autoWorld, container, core, kc, World } from './harness.js';
import { eventually, tokenKubeConfig } from './kube.js';

const kubeconfig = process.env.TEST_KUBECONFIG ?? '';

/** The env var a Reloader `env-vars` reload puts on `web`'s container, if any. */
async function reloaderEnv(world: World): Promise<string | undefined> {
  const template = (await world.read('Deployment', 'web')).spec as
    | { template?: { spec?: { containers?: { env?: { name: string; value?: string }[] }[] } } }
    | undefined;
  return template?.template?.spec?.containers?.[0]?.env?.find(
    (e) => e.name === 'STAKATER_APP_CONFIGMAP',
  )?.value;
}

interface Received {
  method: string;
  contentType: string | undefined;
  body: string;
}

/**
 * A webhook receiver on 127.0.0.1 that records each request and answers `status()`, or never
 * answers while that is undefined.
 */
async function receiver(
  t: TestContext,
  status: () => number | undefined,
): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      received.push({ method: req.method ?? '', contentType: req.headers['content-type'], body });
      const code = status();
      if (code === undefined) return;
      res.statusCode = code;
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hook`, received };
}

/**
 * What a Role for a reloader confined to one namespace grants there, as a user would write it:
 * reading sources, changing workloads, and its own hash key, Lease and Job stash.
 */
const oneNamespaceRules: V1PolicyRule[] = [
  { apiGroups: [''], resources: ['configmaps'], verbs: ['list'] },
  { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'create', 'delete'] },
  {
    apiGroups: ['apps'],
    resources: ['deployments', 'statefulsets', 'daemonsets'],
    verbs: ['list', 'get', 'patch'],
  },
  { apiGroups: ['batch'], resources: ['cronjobs'], verbs: ['list', 'get', 'patch'] },
  { apiGroups: ['batch'], resources: ['jobs'], verbs: ['list', 'get', 'delete', 'create'] },
  { apiGroups: ['batch'], resources: ['cronjobs/status'], verbs: ['patch'] },
  { apiGroups: ['argoproj.io'], resources: ['rollouts'], verbs: ['list', 'get', 'patch'] },
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create'] },
];

/** A ServiceAccount with `oneNamespaceRules` in its namespace only; a kubeconfig file for it. */
async function oneNamespaceAccount(namespace: string): Promise<string> {
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const name = 'reloader';
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  await rbac.createNamespacedRole({
    namespace,
    body: { metadata: { name }, rules: oneNamespaceRules },
  });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace }],
    },
  });
  const token = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 600 } },
  });
  assert.ok(token.status?.token, 'TokenRequest returned a token');
  const file = join(mkdtempSync(join(tmpdir(), 'one-namespace-')), 'kubeconfig');
  writeFileSync(file, tokenKubeConfig(kc, token.status.token).exportConfig(), { mode: 0o600 });
  return file;
}

describe('drop-in for Reloader (SPEC §7)', () => {
  // The chart's --enable-csi-integration=true needs the CSI driver's API (test/csi.test.ts).
  before(installPodStatusCrd);

  it("with no command, the arguments Reloader's chart renders run the long-running mode", async (t) => {
    const world = await autoWorld(t);
    const elsewhere = await autoWorld(t);
    const untouched = await elsewhere.template('Deployment', 'web');
    // What the chart renders for a user with these values, quotes included; the poller's own
    // settings come from its environment variables.
    const args = [
      '--log-level=info',
      `--namespace-selector="kubernetes.io/metadata.name=${world.namespace}"`,
      '--enable-ha=true',
      '--is-Argo-Rollouts=True',
      '--reload-on-create=T',
      '--reload-on-delete=0',
      '--sync-after-restart=true',
      '--reload-strategy=env-vars',
      '--enable-pprof',
      '--pprof-addr=:6060',
      '--enable-csi-integration=true',
    ];
    const run = startCli(t, args, {
      KUBECONFIG: kubeconfig,
      POLLING_RELOADER_STATE: world.statePath,
      POLLING_RELOADER_LEASE_NAMESPACE: world.namespace,
      POLLING_RELOADER_INTERVAL: '1s',
    });
    await eventually('a first pass to record its state', () =>
      Promise.resolve(existsSync(world.statePath) ? true : undefined),
    );
    assert.equal(await reloaderEnv(world), undefined, 'the baseline rolls nothing');

    await world.setConfigMap('app', { v: '2' });
    await elsewhere.setConfigMap('app', { v: '2' });
    const value = await eventually('the Deployment to roll', () => reloaderEnv(world), 30_000);
    assert.match(value, /^[0-9a-f]{40}$/);
    assert.equal(
      await elsewhere.template('Deployment', 'web'),
      untouched,
      'the namespace selector, quotes and all, kept the run to its namespace',
    );

    run.kill('SIGTERM');
    assert.equal(await run.exited, 0, run.output());
    assert.match(run.output(), /--enable-pprof: .*node --inspect/);
    assert.doesNotMatch(
      run.output(),
      /--enable-csi-integration/,
      'the flag is supported: no warning',
    );
  });

  it('KUBERNETES_NAMESPACE: a ServiceAccount with rights in that namespace only runs and reloads there', async (t) => {
    const world = await autoWorld(t);
    const kubeconfigFile = await oneNamespaceAccount(world.namespace);
    // As Reloader's chart runs it with watchGlobally=false: the variable, and a namespace
    // selector it renders anyway (ignored in this mode, as Reloader ignores it).
    const args = ['--once', `--state=${world.statePath}`, '--namespace-selector=team=a'];
    const env = { KUBECONFIG: kubeconfigFile, KUBERNETES_NAMESPACE: world.namespace };
    const baseline = await cli(args, env);
    assert.equal(baseline.code, 0, baseline.stderr);
    assert.match(baseline.stderr, /--namespace-selector is ignored/);
    const before = await world.template('Deployment', 'web');

    await world.setConfigMap('app', { v: '2' });
    const second = await cli(args, env);
    assert.equal(second.code, 0, second.stderr);
    assert.notEqual(await world.template('Deployment', 'web'), before, 'the Deployment rolled');

    const everywhere = await cli(args, { KUBECONFIG: kubeconfigFile });
    assert.equal(everywhere.code, 1, 'without the variable, a cluster-wide run is refused');
    assert.match(everywhere.stderr, /missing permission: .*cluster-wide/);
  });

  it('an unknown flag is still a one-line error', async () => {
    for (const args of [['--no-such-flag'], ['run', '--no-such-flag=1']]) {
      const result = await cli(args);
      assert.equal(result.code, 1, result.stderr);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0] ?? '', /^polling-reloader: error: unknown option '--no-such-flag/);
    }
  });

  it('--webhook-url: each change is POSTed as Reloader does, nothing is reloaded, a refused POST is sent again', async (t) => {
    let status = 200;
    const hook = await receiver(t, () => status);
    const world = await autoWorld(t);
    const flag = `--webhook-url=${hook.url}`;
    const before = await world.template('Deployment', 'web');
    await world.pass(flag);
    assert.equal(hook.received.length, 0, 'a baseline posts nothing');

    await world.setConfigMap('app', { v: '2' });
    await world.configMap('other', { v: '1' });
    await world.pass(flag);
    assert.deepEqual(hook.received, [
      { method: 'POST', contentType: 'application/json', body: '{"webhook":"update successful"}' },
    ]);
    assert.equal(await world.template('Deployment', 'web'), before, 'nothing reloaded');

    status = 503;
    await world.setConfigMap('app', { v: '3' });
    const refused = await world.pass(flag);
    assert.match(refused.webhooks[0]?.error ?? '', /HTTP 503/);
    assert.deepEqual(refused.pending, [`${world.namespace}/ConfigMap/app`]);
    assert.equal(hook.received.length, 2);

    status = 200;
    await world.pass(flag);
    assert.equal(hook.received.length, 3, 'the refused change is POSTed again');
    await world.pass(flag);
    assert.equal(hook.received.length, 3, 'and once only');

    await world.configMap('created', { v: '1' });
    await world.pass(flag, '--reload-on-create');
    assert.equal(hook.received.length, 4, 'a creation is POSTed with --reload-on-create');
    assert.equal(await world.template('Deployment', 'web'), before, 'still nothing reloaded');
  });

  it('--webhook-url: a receiver that never answers holds run --once no longer than --pass-timeout, and what was not sent is sent later', async (t) => {
    let status: number | undefined = undefined; // no answer, until the test gives one
    const hook = await receiver(t, () => status);
    const world = await autoWorld(t);
    await world.configMap('b', { v: '1' });
    await world.configMap('c', { v: '1' });
    const args = [
      'run',
      '--once',
      `--kubeconfig=${kubeconfig}`,
      ...world.baseArgs(),
      `--namespaces=${world.namespace}`,
      `--webhook-url=${hook.url}`,
    ];
    assert.equal((await cli(args)).code, 0, 'the baseline');
    for (const name of ['app', 'b', 'c']) await world.setConfigMap(name, { v: '2' });

    const started = Date.now();
    const held = await cli([...args, '--pass-timeout=5s']);
    const took = Date.now() - started;
    assert.equal(held.code, 3, held.stderr);
    assert.match(held.stderr, /webhook for .* failed, kept pending/);
    // One POST waiting its full time-out would take 30 s, and three 90 s.
    assert.ok(took < 30_000, `the run took ${took} ms`);

    status = 200;
    const sent = hook.received.length;
    const next = await cli(args);
    assert.equal(next.code, 0, next.stderr);
    assert.equal(hook.received.length - sent, 3, 'each change not sent is POSTed once');
  });

  it('--webhook-url: a pass lists no workload, not even on a baseline', async (t) => {
    const world = await World.create(t);
    await world.configMap('app', { v: '1' });
    await world.deployment('web', {
      podSpec: { containers: [container('app', { configMaps: ['app'] })] },
    });
    const report = await world.pass('--webhook-url=http://127.0.0.1:9/hook');
    assert.equal(report.workloads, undefined, 'no workload listed');
  });
});
