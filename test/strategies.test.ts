// SPEC §4: reload strategies, keyed hashes, and Secret values that never leave the Secret.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { V1Container } from '@kubernetes/client-node';
import { cli } from './cli.js';
import { container, core, reloaded, World } from './harness.js';

const auto = { 'reloader.stakater.com/auto': 'true' };

async function containersOf(world: World, name: string): Promise<V1Container[]> {
  const d = await world.read('Deployment', name);
  return (
    d.spec as { template: { spec: { containers: V1Container[]; initContainers?: V1Container[] } } }
  ).template.spec.containers;
}

describe('reload strategies and records (SPEC §4)', () => {
  it('env-vars: STAKATER_<NAME>_CONFIGMAP / _SECRET on the first container that uses the source', async (t) => {
    const world = await World.create(t);
    await world.configMap('app-config.v1', { v: '1' });
    await world.configMap('other', { v: '1' });
    await world.secret('creds', { p: '1' });
    await world.deployment('web', {
      annotations: auto,
      podSpec: {
        initContainers: [container('init', { configMaps: ['app-config.v1'] })],
        containers: [
          container('sidecar', { configMaps: ['other'] }),
          container('app', { configMaps: ['app-config.v1'], secrets: ['creds'] }),
        ],
      },
    });
    await world.pass('--reload-strategy=env-vars');
    await world.setConfigMap('app-config.v1', { v: '2' });
    await world.setSecret('creds', { p: '2' });
    assert.deepEqual(reloaded(await world.pass('--reload-strategy=env-vars')), ['Deployment/web']);
    const [sidecar, firstApp] = await containersOf(world, 'web');
    let app = firstApp;
    const env = (c: V1Container | undefined) =>
      Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value]));
    assert.deepEqual(Object.keys(env(app)).sort(), [
      'STAKATER_APP_CONFIG_V1_CONFIGMAP',
      'STAKATER_CREDS_SECRET',
    ]);
    assert.deepEqual(env(sidecar), {}, 'the sidecar does not use them');
    const first = env(app).STAKATER_APP_CONFIG_V1_CONFIGMAP;
    assert.match(first ?? '', /^[0-9a-f]{40}$/);
    const annotations = await world.templateAnnotations('Deployment', 'web');
    assert.equal(annotations['reloader.stakater.com/last-reloaded-from'], undefined);

    await world.setConfigMap('app-config.v1', { v: '3' });
    await world.pass('--reload-strategy=env-vars');
    app = (await containersOf(world, 'web'))[1];
    assert.equal(app?.env?.length, 2, 'the variable is replaced, not added again');
    assert.notEqual(env(app).STAKATER_APP_CONFIG_V1_CONFIGMAP, first);
  });

  it('hashes are keyed: the same content hashes differently under another key', async (t) => {
    const recorded: string[] = [];
    for (let i = 0; i < 2; i++) {
      const world = await World.create(t);
      await world.secret('creds', { password: 'same' });
      await world.deployment('web', {
        annotations: auto,
        podSpec: { containers: [container('app', { secrets: ['creds'] })] },
      });
      await world.pass();
      await world.setSecret('creds', { password: 'same-new' });
      await world.pass();
      const record = JSON.parse(
        (await world.templateAnnotations('Deployment', 'web'))[
          'polling-reloader.io/reloaded-hashes'
        ] ?? '{}',
      ) as {
        hashes: Record<string, string>;
      };
      recorded.push(record.hashes['Secret/creds'] ?? '');
      const key = await core.readNamespacedSecret({
        name: 'polling-reloader-hash-key',
        namespace: world.namespace,
      });
      assert.ok(key.data?.key, 'the key Secret is created on first use in the reloader namespace');
    }
    assert.notEqual(recorded[0], recorded[1]);
  });

  it('a new hash key is noticed: a new baseline, no restart storm', async (t) => {
    const world = await World.create(t);
    await world.configMap('app', { v: '1' });
    await world.deployment('web', {
      annotations: auto,
      podSpec: { containers: [container('app', { configMaps: ['app'] })] },
    });
    await world.pass();
    await world.setConfigMap('app', { v: '2' });
    await world.pass();
    const before = await world.template('Deployment', 'web');
    await core.deleteNamespacedSecret({
      name: 'polling-reloader-hash-key',
      namespace: world.namespace,
    });
    const report = await world.pass();
    assert.match(report.stateProblem ?? '', /another hash key/);
    assert.deepEqual(reloaded(report), []);
    assert.equal(await world.template('Deployment', 'web'), before);
  });

  it("a Secret's value never appears in output, state, annotations or env vars", async (t) => {
    const world = await World.create(t);
    const value = 'hunter2-correct-horse-battery';
    const next = 'hunter3-staple-and-more-words';
    await world.secret('creds', { password: value });
    await world.deployment('web', {
      annotations: auto,
      podSpec: { containers: [container('app', { secrets: ['creds'] })] },
    });
    const kubeconfig = process.env.TEST_KUBECONFIG ?? '';
    const args = [
      'run',
      ...world.baseArgs(),
      `--namespaces=${world.namespace}`,
      `--kubeconfig=${kubeconfig}`,
      '--log-level=trace',
    ];
    const outputs: string[] = [];
    const run = async (...extra: string[]) => {
      const result = await cli([...args, ...extra]);
      assert.equal(result.code, 0, result.stderr);
      outputs.push(result.stdout, result.stderr);
    };
    await run('--log-format=json');
    await world.setSecret('creds', { password: next });
    await run('--dry-run');
    await run('--reload-strategy=env-vars', '--log-format=json');
    await world.setSecret('creds', { password: value });
    await run();
    outputs.push(
      readFileSync(world.statePath, 'utf8'),
      JSON.stringify(await world.read('Deployment', 'web')),
    );

    const forbidden = [value, next].flatMap((v) => [
      v,
      Buffer.from(v).toString('base64'),
      createHash('sha256').update(v).digest('hex'),
      createHash('sha1').update(v).digest('hex'),
      createHash('sha256').update(`password=${v}`).digest('hex'),
      createHash('sha1').update(`password=${v}`).digest('hex'),
    ]);
    const everything = outputs.join('\n');
    assert.ok(everything.includes('STAKATER_CREDS_SECRET'), 'the reloads did happen');
    for (const secret of forbidden)
      assert.equal(everything.includes(secret), false, `leaked: ${secret.slice(0, 6)}…`);
  });
});
