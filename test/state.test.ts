// State kept in ConfigMaps (--state=configmap:NAMESPACE/NAME): a CronJob then needs no volume.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configMapStateStore } from '../src/configmap-state.js';
import type { ObservedSource, StateData } from '../src/state.js';
import { container, api, core, reloaded, World } from './harness.js';

const auto = { 'reloader.stakater.com/auto': 'true' };

function state(sources: number): StateData {
  const entries = Array.from({ length: sources }, (_, i): [string, ObservedSource] => [
    `ns/ConfigMap/cm-${i}`,
    { uid: `uid-${i}`, resourceVersion: String(i), hash: 'h'.repeat(40) },
  ]);
  return {
    version: 1,
    keyId: 'k',
    savedAt: new Date(0).toISOString(),
    sources: Object.fromEntries(entries),
  };
}

async function configMapNames(namespace: string): Promise<string[]> {
  return (await core.listNamespacedConfigMap({ namespace })).items
    .map((c) => c.metadata?.name ?? '')
    .filter((n) => n.startsWith('state'))
    .sort();
}

describe('state in ConfigMaps', () => {
  it('a pass records, compares and saves its state in the cluster', async (t) => {
    const world = await World.create(t);
    const flag = `--state=configmap:${world.namespace}/state`;
    await world.configMap('app', { v: '1' });
    await world.deployment('web', {
      annotations: auto,
      podSpec: { containers: [container('app', { configMaps: ['app'] })] },
    });
    assert.equal((await world.pass(flag)).baseline, true);
    await world.setConfigMap('app', { v: '2' });
    const report = await world.pass(flag);
    assert.equal(report.baseline, false);
    assert.deepEqual(reloaded(report), ['Deployment/web']);
    assert.deepEqual(reloaded(await world.pass(flag)), []);
    assert.equal((await configMapNames(world.namespace)).length, 2, 'the head and one part');
  });

  it('splits a large state across ConfigMaps and removes the old parts on each save', async (t) => {
    const world = await World.create(t);
    const store = configMapStateStore(api, world.namespace, 'state', { chunkBytes: 2_000 });
    const data = state(100);
    await store.load();
    await store.save(data);
    const parts = (await configMapNames(world.namespace)).length - 1;
    assert.ok(parts > 3, `${parts} parts`);
    const reread = await configMapStateStore(api, world.namespace, 'state', {
      chunkBytes: 2_000,
    }).load();
    assert.deepEqual(reread.data, data);
    await store.save(state(10));
    assert.equal((await configMapNames(world.namespace)).length, 2, 'old parts deleted');
    assert.equal(Object.keys((await store.load()).data?.sources ?? {}).length, 10);
  });

  it('what was saved or read is used again until another instance moves the head', async (t) => {
    const world = await World.create(t);
    const a = configMapStateStore(api, world.namespace, 'state', { chunkBytes: 2_000 });
    const b = configMapStateStore(api, world.namespace, 'state', { chunkBytes: 2_000 });
    await a.load();
    const saved = state(100);
    await a.save(saved);
    const before = api.stats.requests;
    assert.equal((await a.load()).data, saved, 'not read back after the save');
    assert.equal(api.stats.requests - before, 1, 'the head only, none of its parts');
    const read = (await b.load()).data;
    assert.deepEqual(read, saved);
    assert.equal((await b.load()).data, read, 'not parsed again while the head stays');
    await b.save(state(3));
    assert.equal(Object.keys((await a.load()).data?.sources ?? {}).length, 3);
  });

  it('two writers: the second save of the same version is refused (optimistic concurrency)', async (t) => {
    const world = await World.create(t);
    const a = configMapStateStore(api, world.namespace, 'state');
    const b = configMapStateStore(api, world.namespace, 'state');
    await a.load();
    await a.save(state(1));
    await a.load();
    await b.load();
    await a.save(state(2));
    await assert.rejects(b.save(state(3)), /written by another instance/);
    assert.equal(
      Object.keys((await a.load()).data?.sources ?? {}).length,
      2,
      'the first write stands',
    );
  });

  it('an unreadable state is reported, kept aside and replaced by a baseline', async (t) => {
    const world = await World.create(t);
    await core.createNamespacedConfigMap({
      namespace: world.namespace,
      body: { metadata: { name: 'state' }, data: { generation: 'g', parts: '2' } },
    });
    const loaded = await configMapStateStore(api, world.namespace, 'state').load();
    assert.equal(loaded.data, undefined);
    assert.match(loaded.problem ?? '', /unreadable.*kept as configmap:/);
    const names = await configMapNames(world.namespace);
    assert.equal(names.length, 1);
    assert.match(names[0] ?? '', /^state-unreadable-/);
  });

  it('an unreadable state of several parts is set aside with its parts, none left behind', async (t) => {
    const world = await World.create(t);
    const generation = '0badc0de';
    await core.createNamespacedConfigMap({
      namespace: world.namespace,
      body: { metadata: { name: 'state' }, data: { generation, parts: '3' } },
    });
    for (const [i, part] of ['{"version":', '1,"keyId"'].entries()) {
      await core.createNamespacedConfigMap({
        namespace: world.namespace,
        body: { metadata: { name: `state-${generation}-${i}` }, data: { part } },
      });
    } // part 2 is missing
    const flag = `--state=configmap:${world.namespace}/state`;
    await world.configMap('app', { v: '1' });
    const report = await world.pass(flag);
    assert.equal(report.baseline, true);
    assert.match(report.stateProblem ?? '', /unreadable.*kept as configmap:/);

    const names = await configMapNames(world.namespace);
    assert.deepEqual(
      names.filter((n) => n.includes(generation)),
      [],
      'the old parts were left behind',
    );
    const aside = names.filter((n) => n.startsWith('state-unreadable-'));
    assert.equal(aside.length, 3, `the head and both parts kept aside: ${aside.join(', ')}`);
    const [head] = aside;
    for (const [i, part] of ['{"version":', '1,"keyId"'].entries()) {
      const kept = await core.readNamespacedConfigMap({
        name: `${head ?? ''}-${i}`,
        namespace: world.namespace,
      });
      assert.equal(kept.data?.part, part);
    }
    assert.equal(names.length, 5, 'besides those, the new head and its one part');
    // app and kube-root-ca.crt: what was kept aside counts as no source.
    assert.equal((await world.pass(flag)).sources, 2);
  });
});
