// SPEC §5: the CLI, its flags, and its errors, run as a user runs it.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { runCommand } from '../src/options.js';
import { cli } from './cli.js';
import { container, core, kc, World } from './harness.js';
import { tokenKubeConfig } from './kube.js';

const kubeconfig = process.env.TEST_KUBECONFIG ?? '';
const auto = { 'reloader.stakater.com/auto': 'true' };

/** A world with a baseline already recorded and a change waiting: any pass would reload `web`. */
async function pendingChange(
  t: Parameters<typeof World.create>[0],
): Promise<{ world: World; before: string; args: string[] }> {
  const world = await World.create(t);
  await world.configMap('app', { v: '1' });
  await world.deployment('web', {
    annotations: auto,
    podSpec: { containers: [container('app', { configMaps: ['app'] })] },
  });
  await world.pass();
  await world.setConfigMap('app', { v: '2' });
  const args = ['run', ...world.baseArgs(), `--namespaces=${world.namespace}`];
  return { world, before: await world.template('Deployment', 'web'), args };
}

/** One line on stderr, no stack trace, a non-zero code, and the workload untouched. */
async function assertRefused(
  world: World,
  before: string,
  result: { code: number; stderr: string },
  pattern: RegExp,
): Promise<void> {
  assert.equal(result.code, 1, result.stderr);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${result.stderr}`);
  assert.match(lines[0] ?? '', /^polling-reloader: error: /);
  assert.match(lines[0] ?? '', pattern);
  assert.equal(await world.template('Deployment', 'web'), before, 'nothing changed');
}

describe('command line (SPEC §5)', () => {
  it('run --once performs one pass and exits 0', async (t) => {
    const { world, before, args } = await pendingChange(t);
    const result = await cli([...args, `--kubeconfig=${kubeconfig}`]);
    assert.equal(result.code, 0, result.stderr);
    assert.notEqual(await world.template('Deployment', 'web'), before);
  });

  it('takes the kubeconfig from KUBECONFIG and any flag from its environment variable', async (t) => {
    const world = await World.create(t);
    await world.configMap('app', { v: '1' });
    await world.deployment('web', {
      podSpec: { containers: [container('app', { configMaps: ['app'] })] },
    });
    const env = {
      KUBECONFIG: kubeconfig,
      POLLING_RELOADER_AUTO_RELOAD_ALL: 'true',
      POLLING_RELOADER_ONCE: 'true',
      POLLING_RELOADER_NAMESPACES: world.namespace,
      POLLING_RELOADER_LEASE_NAMESPACE: world.namespace,
      POLLING_RELOADER_STATE: world.statePath,
    };
    assert.equal((await cli(['run'], env)).code, 0);
    const before = await world.template('Deployment', 'web');
    await world.setConfigMap('app', { v: '2' });
    const result = await cli(['run'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.notEqual(
      await world.template('Deployment', 'web'),
      before,
      '--auto-reload-all came from the environment',
    );
  });

  it('--log-format=json writes one JSON object per line', async (t) => {
    const { args } = await pendingChange(t);
    const result = await cli([...args, `--kubeconfig=${kubeconfig}`, '--log-format=json']);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stderr.trim().split('\n');
    assert.ok(lines.length >= 2);
    for (const line of lines)
      assert.equal(typeof (JSON.parse(line) as { msg: unknown }).msg, 'string');
  });

  it('--dry-run prints the plan on stdout, with the rule that decided', async (t) => {
    const { world, before, args } = await pendingChange(t);
    const result = await cli([...args, `--kubeconfig=${kubeconfig}`, '--dry-run']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`reload ${world.namespace}/Deployment/web`));
    assert.match(result.stdout, /ConfigMap\/app: its content changed; rule: auto annotation/);
    assert.equal(await world.template('Deployment', 'web'), before);
  });

  it('a bad flag value ends the run with one line before anything changes', async (t) => {
    const { world, before, args } = await pendingChange(t);
    for (const [flag, pattern] of [
      ['--reload-strategy=sometimes', /reload-strategy/],
      ['--auto-reload-all=maybe', /auto-reload-all.*not a boolean/],
      ['--resources-to-ignore=pods', /resources-to-ignore/],
      ['--ignored-workload-types=replicasets', /ignored-workload-types/],
      ['--schedule=every minute', /schedule.*not a cron expression/],
      ['--interval=soon', /interval.*not a duration/],
      ['--lease-duration=0s', /lease-duration.*not a duration/],
    ] as const) {
      const result = await cli([...args, `--kubeconfig=${kubeconfig}`, flag]);
      await assertRefused(world, before, result, pattern);
    }
  });

  it('a missing or unreadable kubeconfig, an unknown context, or an unreachable cluster: one line, nothing changed', async (t) => {
    const { world, before, args } = await pendingChange(t);
    const dir = mkdtempSync(join(tmpdir(), 'kubeconfig-'));
    const garbage = join(dir, 'garbage');
    writeFileSync(garbage, ': not yaml : [');
    const unreachable = join(dir, 'unreachable');
    const kc2 = new KubeConfig();
    kc2.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
      users: [{ name: 'u', token: 'x' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    writeFileSync(unreachable, kc2.exportConfig());
    await assertRefused(
      world,
      before,
      await cli([...args, `--kubeconfig=${join(dir, 'absent')}`]),
      /does not exist/,
    );
    await assertRefused(
      world,
      before,
      await cli([...args, `--kubeconfig=${garbage}`]),
      /cannot read kubeconfig/,
    );
    await assertRefused(
      world,
      before,
      await cli([...args, `--kubeconfig=${kubeconfig}`, '--context=nope']),
      /context "nope"/,
    );
    await assertRefused(
      world,
      before,
      await cli([...args, `--kubeconfig=${unreachable}`]),
      /cannot reach the cluster at https:\/\/127.0.0.1:1/,
    );
    assert.equal((await cli(args, { HOME: dir })).code, 1, 'no cluster at all');
  });

  it('a state that cannot be written ends the run with one line before anything changes', async (t) => {
    const { world, before, args } = await pendingChange(t);
    const dir = mkdtempSync(join(tmpdir(), 'polling-reloader-ro-'));
    const readOnlyDir = join(dir, 'ro');
    writeFileSync(join(dir, 'file'), '');
    for (const state of ['/proc/state.json', join(dir, 'file', 'state.json'), '']) {
      const result = await cli([...args, `--kubeconfig=${kubeconfig}`, `--state=${state}`]);
      await assertRefused(world, before, result, /--state/);
    }
    assert.equal(existsSync(readOnlyDir), false);
  });

  it('--dry-run leaves an unreadable state as it is', async (t) => {
    const { world, before, args } = await pendingChange(t);
    writeFileSync(world.statePath, '{ not json');
    const result = await cli([...args, `--kubeconfig=${kubeconfig}`, '--dry-run']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(readFileSync(world.statePath, 'utf8'), '{ not json');
    assert.deepEqual(
      readdirSync(dirname(world.statePath)).filter((f) => f.includes('unreadable')),
      [],
    );
    assert.match(result.stdout + result.stderr, /unreadable/);
    assert.equal(await world.template('Deployment', 'web'), before);
  });

  it('an error shows its stack trace at --log-level debug or trace in any spelling, and only then', async (t) => {
    const { world, before, args } = await pendingChange(t);
    // An error met after connecting to the cluster: a state that cannot be written.
    const failing = [...args, `--kubeconfig=${kubeconfig}`, '--state=/proc/state.json'];
    const stack = /^\s+at /m;
    for (const [levels, env] of [
      [['--log-level=debug'], {}],
      [['--log-level', 'debug'], {}],
      [['--log-level=DEBUG'], {}],
      [['--log-level', 'Trace'], {}],
      [[], { POLLING_RELOADER_LOG_LEVEL: 'Debug' }],
      [['--log-level=info', '--log-level=debug'], {}],
    ] as const) {
      const result = await cli([...failing, ...levels], env);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /^polling-reloader: error: --state/);
      assert.match(result.stderr, stack, `a stack trace for ${JSON.stringify([levels, env])}`);
    }
    for (const [levels, env] of [
      [[], {}],
      [['--log-level=info'], {}],
      [['--log-level', 'WARNING'], {}],
      [['--log-level=debug', '--log-level=info'], {}],
      [['--log-level=info'], { POLLING_RELOADER_LOG_LEVEL: 'debug' }],
    ] as const) {
      await assertRefused(world, before, await cli([...failing, ...levels], env), /--state/);
    }
  });

  it('--dry-run leaves an unreadable ConfigMap state as it is, and its plan says so', async (t) => {
    const { world, before, args } = await pendingChange(t);
    const namespace = world.namespace;
    const generation = '0badc0de';
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'state' }, data: { generation, parts: '2' } },
    });
    for (const [i, part] of ['{ not', ' json'].entries()) {
      await core.createNamespacedConfigMap({
        namespace,
        body: { metadata: { name: `state-${generation}-${i}` }, data: { part } },
      });
    }
    const configMaps = async () =>
      (await core.listNamespacedConfigMap({ namespace })).items
        .map((c) => `${c.metadata?.name ?? ''}@${c.metadata?.resourceVersion ?? ''}`)
        .sort();
    const stored = await configMaps();
    const result = await cli([
      ...args,
      `--kubeconfig=${kubeconfig}`,
      `--state=configmap:${namespace}/state`,
      '--dry-run',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await configMaps(), stored, 'a ConfigMap was created, changed or deleted');
    assert.match(
      result.stdout,
      new RegExp(
        `state configmap:${namespace}/state is unreadable: .*not a dry run keeps it aside`,
      ),
    );
    assert.match(result.stdout, /no observed state: this pass records a baseline/);
    assert.equal(await world.template('Deployment', 'web'), before);
  });

  it('a missing permission ends the run before anything changes', async (t) => {
    const { world, before, args } = await pendingChange(t);
    const namespace = world.namespace;
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'weak' } } });
    await rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name: 'weak' },
        rules: [
          {
            apiGroups: [''],
            resources: ['configmaps', 'secrets'],
            verbs: ['get', 'list', 'create'],
          },
          { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list'] },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: 'weak' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'weak' },
        subjects: [{ kind: 'ServiceAccount', name: 'weak', namespace }],
      },
    });
    const token =
      (
        await core.createNamespacedServiceAccountToken({
          name: 'weak',
          namespace,
          body: { spec: { audiences: [] } },
        })
      ).status?.token ?? '';
    const weak = tokenKubeConfig(kc, token);
    const file = join(mkdtempSync(join(tmpdir(), 'weak-')), 'kubeconfig');
    writeFileSync(file, weak.exportConfig());
    assert.ok(
      (await weak.makeApiClient(CoreV1Api).listNamespacedConfigMap({ namespace })).items.length > 0,
    );
    const result = await cli([...args, `--kubeconfig=${file}`, `--state=${world.statePath}.weak`]);
    await assertRefused(
      world,
      before,
      result,
      /missing permission: .*patch deployments\.apps in namespace/,
    );
    assert.equal(existsSync(`${world.statePath}.weak`), false, 'no state written');
  });

  it('--help lists every flag with its default and its environment variable', async () => {
    const result = await cli(['run', '--help']);
    assert.equal(result.code, 0);
    const flags = [
      'auto-reload-all',
      'reload-strategy',
      'reload-on-create',
      'reload-on-delete',
      'namespaces',
      'namespaces-to-ignore',
      'namespace-selector',
      'resource-label-selector',
      'resources-to-ignore',
      'ignored-workload-types',
      'log-format',
      'log-level',
      'once',
      'state',
      'dry-run',
      'kubeconfig',
      'context',
      'auto-annotation',
      'configmap-annotation',
      'secret-annotation',
      'pause-deployment-annotation',
    ];
    for (const flag of flags) {
      const line = result.stdout.split('\n').find((l) => l.trimStart().startsWith(`--${flag} `));
      assert.ok(line, `--${flag} is listed`);
      const env = `POLLING_RELOADER_${flag.replace(/-/g, '_').toUpperCase()}`;
      assert.ok(result.stdout.includes(`env: ${env}`), `${env} is listed`);
    }
  });

  it('the README lists every flag and its environment variable', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const option of runCommand(() => Promise.resolve()).options) {
      assert.ok(readme.includes(`\`${option.flags}\``), `README lists ${option.flags}`);
      assert.ok(
        readme.includes(`\`${option.envVar ?? 'no env var'}\``),
        `README lists ${option.envVar ?? ''}`,
      );
    }
  });

  it('annotation names can be overridden as in Reloader', async (t) => {
    const world = await World.create(t);
    await world.configMap('app', { v: '1' });
    await world.deployment('web', {
      annotations: { 'example.com/reload': 'true' },
      podSpec: { containers: [container('app', { configMaps: ['app'] })] },
    });
    await world.pass('--auto-annotation=example.com/reload');
    const before = await world.template('Deployment', 'web');
    await world.setConfigMap('app', { v: '2' });
    await world.pass('--auto-annotation=example.com/reload');
    assert.notEqual(await world.template('Deployment', 'web'), before);
  });
});
