// SPEC §1 and the exactly-once record of §4: what one pass compares, patches and persists.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, it } from 'node:test';
import { autoWorld, container, core, denyUpdates, reloaded, World } from './harness.js';
import { eventually } from './kube.js';

const auto = { 'reloader.stakater.com/auto': 'true' };

describe('one pass (SPEC §1)', () => {
  it('records a baseline and restarts nothing, then reloads a changed ConfigMap and its pods roll', async (t) => {
    const world = await autoWorld(t);
    const first = await world.pass();
    assert.equal(first.baseline, true);
    assert.deepEqual(reloaded(first), []);
    const pods = async () =>
      (
        await core.listNamespacedPod({ namespace: world.namespace, labelSelector: 'app=web' })
      ).items.filter((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp);
    const old = await eventually('the first pod Running', async () =>
      (await pods()).length === 1 ? pods() : undefined,
    );

    await world.setConfigMap('app', { v: '2' });
    assert.deepEqual(reloaded(await world.pass()), ['Deployment/web']);
    const annotations = await world.templateAnnotations('Deployment', 'web');
    const from = JSON.parse(
      annotations['reloader.stakater.com/last-reloaded-from'] ?? '{}',
    ) as Record<string, unknown>;
    assert.equal(from.type, 'CONFIGMAP');
    assert.equal(from.name, 'app');
    assert.deepEqual(from.containerRefs, ['app']);
    const oldName = old[0]?.metadata?.name;
    await eventually('the old pod replaced by a Running new one', async () => {
      const now = await pods();
      return now.length === 1 && now[0]?.metadata?.name !== oldName ? now : undefined;
    });
    assert.deepEqual(reloaded(await world.pass()), [], 'the next pass has nothing to do');
  });

  it('ignores a change to labels or annotations alone', async (t) => {
    const world = await autoWorld(t);
    await world.pass();
    const before = await world.template('Deployment', 'web');
    await core.patchNamespacedConfigMap({
      name: 'app',
      namespace: world.namespace,
      body: [
        { op: 'add', path: '/metadata/labels', value: { tier: 'web' } },
        { op: 'add', path: '/metadata/annotations', value: { note: 'relabelled' } },
      ],
    });
    assert.deepEqual(reloaded(await world.pass()), []);
    assert.equal(await world.template('Deployment', 'web'), before);
  });

  it('patches a workload once per pass however many of its sources changed', async (t) => {
    const world = await World.create(t);
    await world.configMap('a', { v: '1' });
    await world.configMap('b', { v: '1' });
    await world.secret('s', { v: '1' });
    await world.deployment('web', {
      annotations: auto,
      podSpec: { containers: [container('app', { configMaps: ['a', 'b'], secrets: ['s'] })] },
    });
    await world.pass();
    const generation = (await world.read('Deployment', 'web')).metadata?.generation ?? 0;
    await world.setConfigMap('a', { v: '2' });
    await world.setConfigMap('b', { v: '2' });
    await world.setSecret('s', { v: '2' });
    const report = await world.pass();
    assert.equal(report.outcomes.length, 1);
    assert.equal(report.outcomes[0]?.reload.triggers.length, 3);
    assert.equal(
      (await world.read('Deployment', 'web')).metadata?.generation,
      generation + 1,
      'one rolling update',
    );
  });

  it('keeps a change pending while its patch fails, retries it, and never repeats a done reload', async (t) => {
    const world = await World.create(t);
    await world.configMap('app', { v: '1' });
    const podSpec = { containers: [container('app', { configMaps: ['app'] })] };
    await world.deployment('free', { annotations: auto, podSpec });
    await world.deployment('blocked', { annotations: auto, podSpec });
    await world.pass();
    const unblock = await denyUpdates(t, world.namespace, 'blocked');
    t.after(unblock);

    await world.setConfigMap('app', { v: '2' });
    const failing = await world.passAllowingFailures();
    assert.deepEqual(reloaded(failing), ['Deployment/free']);
    assert.deepEqual(failing.pending, [`${world.namespace}/ConfigMap/app`]);
    const freeAfter = await world.template('Deployment', 'free');
    const retried = await world.passAllowingFailures();
    assert.deepEqual(reloaded(retried), [], 'free is not reloaded twice');
    assert.equal(
      retried.outcomes.find((o) => o.reload.workload.name === 'blocked')?.outcome.status,
      'failed',
    );

    await unblock();
    assert.deepEqual(
      reloaded(await world.pass()),
      ['Deployment/blocked'],
      'the pending change is applied',
    );
    assert.equal(await world.template('Deployment', 'free'), freeAfter);
    assert.deepEqual(reloaded(await world.pass()), []);
  });

  it('a run on part of the cluster keeps the state of the rest', async (t) => {
    const a = await autoWorld(t);
    const b = await autoWorld(t);
    const both = `--namespaces=${a.namespace},${b.namespace}`;
    await a.pass(both, '--reload-on-create');
    await a.pass(`--namespaces=${a.namespace}`, '--reload-on-create'); // a one-off on a alone
    await b.setConfigMap('app', { v: '2' });
    const full = await a.pass(both, '--reload-on-create');
    assert.deepEqual(
      full.changes.map((c) => `${c.namespace}/${c.name}`),
      [`${b.namespace}/app`],
      "b's entries were kept: only its real change is seen",
    );
    assert.deepEqual(
      full.outcomes.map((o) => `${o.reload.workload.namespace}/${o.reload.workload.name}`),
      [`${b.namespace}/web`],
    );
  });

  it('a crash between the patches and the save repeats no reload', async (t) => {
    const world = await autoWorld(t);
    await world.pass();
    await world.setConfigMap('app', { v: '2' });
    const crashed = await world.passWith((store) => ({
      ...store,
      location: store.location,
      load: () => store.load(),
      save: () => Promise.reject(new Error('crashed before saving')),
    }));
    assert.deepEqual(reloaded(crashed), ['Deployment/web']);
    assert.match(crashed.saveError ?? '', /not saved: crashed before saving/);
    const patched = await world.template('Deployment', 'web');
    const after = await world.pass();
    assert.equal(after.changes.length, 1, 'the state still shows the change');
    assert.deepEqual(reloaded(after), [], "the workload's record proves it was done");
    assert.equal(await world.template('Deployment', 'web'), patched);
  });

  it('a lost state restarts nothing, except a workload whose record proves it runs an old config', async (t) => {
    const world = await autoWorld(t);
    await world.deployment('never-reloaded', {
      annotations: auto,
      podSpec: { containers: [container('app', { configMaps: ['app'] })] },
    });
    await world.pass();
    await world.setConfigMap('app', { v: '2' });
    assert.deepEqual(reloaded(await world.pass()), ['Deployment/never-reloaded', 'Deployment/web']);
    rmSync(world.statePath);
    const lost = await world.pass();
    assert.equal(lost.baseline, true);
    assert.deepEqual(reloaded(lost), [], 'records match the current config: nothing to do');

    rmSync(world.statePath);
    await world.setConfigMap('app', { v: '3' }); // changed while the state was gone
    const outdated = await world.pass();
    assert.equal(outdated.baseline, true);
    assert.deepEqual(reloaded(outdated), ['Deployment/never-reloaded', 'Deployment/web']);
    assert.ok(
      outdated.outcomes.every((o) => o.reload.triggers.every((tr) => tr.reason === 'outdated')),
    );
  });

  it('an unreadable state file is reported, kept aside and replaced by a baseline', async (t) => {
    const world = await autoWorld(t);
    await world.pass();
    await world.setConfigMap('app', { v: '2' });
    writeFileSync(world.statePath, '{ not json');
    const before = await world.template('Deployment', 'web');
    const report = await world.pass();
    assert.match(report.stateProblem ?? '', /unreadable/);
    assert.equal(report.baseline, true);
    assert.deepEqual(reloaded(report), [], 'no restart storm');
    assert.equal(await world.template('Deployment', 'web'), before);
    const kept = readdirSync(dirname(world.statePath)).filter((f) => f.includes('.unreadable-'));
    assert.equal(kept.length, 1, 'the unreadable file is kept for inspection');
    assert.equal(
      readFileSync(`${dirname(world.statePath)}/${kept[0] ?? ''}`, 'utf8'),
      '{ not json',
    );
    assert.equal(
      (JSON.parse(readFileSync(world.statePath, 'utf8')) as { version: number }).version,
      1,
    );

    writeFileSync(world.statePath, JSON.stringify({ some: 'other tool' }));
    assert.match((await world.pass()).stateProblem ?? '', /not a polling-reloader state/);
  });

  it('--reload-on-create and --reload-on-delete', async (t) => {
    for (const withFlags of [false, true]) {
      const world = await World.create(t);
      const flags = withFlags ? ['--reload-on-create', '--reload-on-delete=true'] : [];
      await world.deployment('web', {
        annotations: auto,
        podSpec: { containers: [container('app', { configMaps: ['late'] })] },
      });
      await world.pass(...flags);
      await world.configMap('late', { v: '1' });
      assert.deepEqual(
        reloaded(await world.pass(...flags)),
        withFlags ? ['Deployment/web'] : [],
        `create, flags ${withFlags}`,
      );
      await core.deleteNamespacedConfigMap({ name: 'late', namespace: world.namespace });
      assert.deepEqual(
        reloaded(await world.pass(...flags)),
        withFlags ? ['Deployment/web'] : [],
        `delete, flags ${withFlags}`,
      );
      assert.deepEqual(reloaded(await world.pass(...flags)), [], 'a deletion is applied once');
    }
  });

  it('--dry-run plans the reload and changes nothing in the cluster or the state', async (t) => {
    const world = await autoWorld(t);
    await world.pass();
    await world.setConfigMap('app', { v: '2' });
    const state = readFileSync(world.statePath, 'utf8');
    const mtime = statSync(world.statePath).mtimeMs;
    const before = await world.template('Deployment', 'web');
    const plan = await world.pass('--dry-run');
    assert.deepEqual(
      plan.plan.reloads.map((r) => r.workload.name),
      ['web'],
    );
    assert.equal(plan.plan.reloads[0]?.triggers[0]?.rule, 'auto');
    assert.deepEqual(plan.outcomes, []);
    assert.equal(await world.template('Deployment', 'web'), before);
    assert.equal(readFileSync(world.statePath, 'utf8'), state);
    assert.equal(statSync(world.statePath).mtimeMs, mtime);
    assert.deepEqual(
      reloaded(await world.pass()),
      ['Deployment/web'],
      'the real pass still sees the change',
    );
  });

  it('a dry run on a cluster it has never seen creates no hash key and no state', async (t) => {
    const world = await autoWorld(t);
    await world.pass('--dry-run');
    assert.equal(existsSync(world.statePath), false);
    const secrets = await core.listNamespacedSecret({ namespace: world.namespace });
    assert.deepEqual(
      secrets.items.map((s) => s.metadata?.name),
      [],
    );
  });
});
