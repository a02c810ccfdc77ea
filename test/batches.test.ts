// SPEC §10, reload storms: --max-reloads-per-pass and --wait-healthy, on the real control plane.
// Outcomes are counted by metadata.generation, which moves exactly when a pod template changes.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { formatPlan } from '../src/explain.js';
import { rolloutHealth } from '../src/rollout-health.js';
import { startCli } from './cli.js';
import { apps, container, World } from './harness.js';
import { eventually } from './kube.js';
import { FaultProxy, serverOf } from './proxy.js';

const admin = process.env.TEST_KUBECONFIG ?? '';
const auto = { 'reloader.stakater.com/auto': 'true' };
const label = 'polling-reloader.io/held-back';
const five = '--max-reloads-per-pass=5';
/** A node selector that no node of the test control plane has: the pod stays Pending. */
const nowhere = { 'polling-reloader.test/no-such-node': 'true' };

/** Deployments `web-00…` that each use ConfigMap `shared`: one change triggers them all. */
async function fleet(world: World, count: number): Promise<string[]> {
  await world.configMap('shared', { v: '1' });
  const names = Array.from({ length: count }, (_, i) => `web-${String(i).padStart(2, '0')}`);
  for (const name of names) {
    await world.deployment(name, {
      annotations: auto,
      podSpec: { containers: [container('app', { configMaps: ['shared'] })] },
    });
  }
  return names;
}

/** metadata.generation of every Deployment of the world, by name (one list request). */
async function generations(world: World): Promise<Map<string, number>> {
  const list = await apps.listNamespacedDeployment({ namespace: world.namespace });
  return new Map(list.items.map((d) => [d.metadata?.name ?? '', d.metadata?.generation ?? 0]));
}

/** How many times each workload rolled since `base`. */
async function rolls(world: World, base: Map<string, number>): Promise<Map<string, number>> {
  const now = await generations(world);
  return new Map([...base].map(([name, gen]) => [name, (now.get(name) ?? 0) - gen]));
}

/** The names that rolled at least once since `base`; fails if one rolled more than `most` times. */
async function rolled(world: World, base: Map<string, number>, most = 1): Promise<string[]> {
  const counts = await rolls(world, base);
  for (const [name, n] of counts) assert.ok(n <= most, `${name} rolled ${n} times`);
  return [...counts].filter(([, n]) => n > 0).map(([name]) => name);
}

/** The workloads that carry the held-back label. */
async function labelled(world: World, names: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const name of names) {
    const labels = (await world.read('Deployment', name)).metadata?.labels ?? {};
    if (labels[label]) out.push(name);
  }
  return out;
}

async function available(world: World, name: string): Promise<true | undefined> {
  const obj = await world.read('Deployment', name);
  return rolloutHealth(obj, 'Deployment').state === 'available' ? true : undefined;
}

describe('reload storms (SPEC §10)', () => {
  it('--max-reloads-per-pass=5: 12 Deployments roll 5, 10, 12, 12, in line, each exactly once', async (t) => {
    const world = await World.create(t);
    const names = await fleet(world, 12);
    await world.pass(five); // the baseline
    const base = await generations(world);
    await world.setConfigMap('shared', { v: '2' });

    const cumulative: number[] = [];
    const reports = [];
    for (let pass = 0; pass < 4; pass++) {
      const report = await world.pass(five);
      reports.push(report);
      const done = await rolled(world, base);
      cumulative.push(done.length);
      assert.deepEqual(done, names.slice(0, done.length), 'in namespace/Kind/name order');
      if (pass === 0) {
        assert.deepEqual(await labelled(world, names), names.slice(5), 'what waits is labelled');
      }
    }
    assert.deepEqual(cumulative, [5, 10, 12, 12]);

    const [first] = reports;
    assert.ok(first);
    assert.deepEqual(
      first.batch.held.map((h) => [h.reload.workload.name, h.cause, h.place]),
      names.slice(5).map((n, i) => [n, 'batch-full', i + 1]),
    );
    assert.deepEqual(first.pending, [`${world.namespace}/ConfigMap/shared`], 'the change waits');
    // The labels (no roll: see the generations) are removed when they roll.
    assert.deepEqual(await labelled(world, names), []);
    assert.equal(reports[2]?.workloads, 12, 'a batch was held back: the third pass looks');
    const quiet = reports[3];
    assert.ok(quiet);
    assert.deepEqual(quiet.outcomes, []);
    assert.equal(quiet.workloads, undefined, 'nothing held back any more: no workload list');
    assert.equal(quiet.saved, false);
  });

  it('a lost state between batches (or a holder with none) loses and repeats nothing', async (t) => {
    const world = await World.create(t);
    await fleet(world, 12);
    await world.pass(five);
    const base = await generations(world);
    await world.setConfigMap('shared', { v: '2' });
    await world.pass(five);
    assert.equal((await rolled(world, base)).length, 5);

    rmSync(world.statePath); // lost: the next pass has no observed state
    const blind = await world.pass(five);
    assert.equal(blind.baseline, true);
    assert.ok(
      blind.batch.now.every((r) => r.triggers.every((tr) => tr.reason === 'held-back')),
      'the labels on the workloads say what is owed',
    );
    assert.equal((await rolled(world, base)).length, 10);
    await world.pass(five);
    assert.equal((await rolled(world, base)).length, 12);
    assert.deepEqual((await world.pass(five)).outcomes, []);
    assert.equal((await rolled(world, base)).length, 12);
  });

  it('a change reverted between batches rolls the batch already done back, and only it', async (t) => {
    const world = await World.create(t);
    const names = await fleet(world, 12);
    await world.pass(five);
    const base = await generations(world);
    const template = await world.template('Deployment', 'web-11');
    await world.setConfigMap('shared', { v: '2' });
    await world.pass(five);
    await world.setConfigMap('shared', { v: '1' }); // back to what the others run

    const back = await world.pass(five);
    assert.deepEqual(back.changes, [], 'no change against the state: its entry was kept pending');
    assert.deepEqual(
      back.batch.now.map((r) => r.workload.name),
      names.slice(0, 5),
      'the five that rolled to v2 roll back to v1',
    );
    const counts = await rolls(world, base);
    assert.deepEqual(
      names.map((n) => counts.get(n)),
      [2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0],
    );
    assert.equal(await world.template('Deployment', 'web-11'), template);
    assert.deepEqual((await world.pass(five)).outcomes, []);
  });

  it('--wait-healthy: a batch waits for the one before it; a stalled rollout stops the batches until it is fixed', async (t) => {
    const world = await World.create(t);
    const names = await fleet(world, 5);
    // web-00 comes first in line and can never become available: its pod has no node.
    await apps.deleteNamespacedDeployment({ name: 'web-00', namespace: world.namespace });
    await world.deployment(
      'web-00',
      {
        annotations: auto,
        podSpec: {
          nodeSelector: nowhere,
          containers: [container('app', { configMaps: ['shared'] })],
        },
      },
      { progressDeadlineSeconds: 2 },
    );
    // Outside the line: it rolls at once, whatever waits.
    await world.configMap('solo', { v: '1' });
    await world.deployment('zz-at-once', {
      annotations: { ...auto, 'polling-reloader.io/roll-at-once': 'true' },
      podSpec: { containers: [container('app', { configMaps: ['shared', 'solo'] })] },
    });
    const flags = ['--max-reloads-per-pass=2', '--wait-healthy'];
    await world.pass(...flags);
    const base = await generations(world);
    await world.setConfigMap('shared', { v: '2' });

    const first = await world.pass(...flags);
    assert.deepEqual(await rolled(world, base), ['web-00', 'web-01', 'zz-at-once']);
    assert.deepEqual(
      first.batch.held.map((h) => h.cause),
      ['batch-full', 'batch-full', 'batch-full'],
    );

    await eventually('web-01 available', () => available(world, 'web-01'));
    await eventually('web-00 past its progress deadline', async () => {
      const obj = await world.read('Deployment', 'web-00');
      return rolloutHealth(obj, 'Deployment').state === 'stalled' ? true : undefined;
    });
    const plan = await world.pass(...flags, '--dry-run');
    const text = formatPlan(plan);
    assert.match(text, new RegExp(`waiting for ${world.namespace}/Deployment/web-00: STALLED`));
    assert.match(
      text,
      new RegExp(
        `hold ${world.namespace}/Deployment/web-02 \\(1st in line, held back since [^)]+\\): waiting for ${world.namespace}/Deployment/web-00 to be available`,
      ),
    );
    for (let pass = 0; pass < 2; pass++) {
      const stopped = await world.pass(...flags);
      assert.deepEqual(stopped.outcomes, [], 'the batches stop');
      assert.deepEqual(
        stopped.batch.stalled.map((s) => s.id),
        [`${world.namespace}/Deployment/web-00`],
      );
      assert.match(stopped.batch.warnings.join('\n'), /web-00: rollout stalled/);
      assert.deepEqual(
        stopped.batch.held.map((h) => [h.reload.workload.name, h.cause]),
        names.slice(2).map((n) => [n, 'waiting']),
      );
    }
    assert.deepEqual(await rolled(world, base), ['web-00', 'web-01', 'zz-at-once']);
    await world.setConfigMap('solo', { v: '2' });
    const atOnce = await world.pass(...flags);
    assert.deepEqual(
      atOnce.outcomes.map((o) => o.reload.workload.name),
      ['zz-at-once'],
      'roll-at-once rolls while the batches stop',
    );

    // Fixed: no node selector. Its new revision becomes available, and the batches go on.
    await apps.patchNamespacedDeployment({
      name: 'web-00',
      namespace: world.namespace,
      body: [{ op: 'remove', path: '/spec/template/spec/nodeSelector' }],
    });
    await eventually('web-00 available once fixed', () => available(world, 'web-00'));
    await world.pass(...flags);
    assert.deepEqual(await rolled(world, base, 2), [...names.slice(0, 4), 'zz-at-once']);
    await eventually('web-02 available', () => available(world, 'web-02'));
    await eventually('web-03 available', () => available(world, 'web-03'));
    await world.pass(...flags);
    const counts = await rolls(world, base);
    assert.deepEqual(
      [...names, 'zz-at-once'].map((n) => counts.get(n)),
      [2, 1, 1, 1, 1, 2],
      'web-00: its reload and its fix; zz-at-once: two changes; every other once',
    );
    await eventually('web-04 available', () => available(world, 'web-04'));
    const settled = await world.pass(...flags);
    assert.deepEqual(settled.outcomes, []);
    assert.deepEqual(settled.batch.blocking, []);
    assert.equal((await world.pass(...flags)).workloads, undefined, 'nothing left to look at');
  });

  it('a SIGKILL between batches, and one inside a batch, lose and repeat nothing', async (t) => {
    const world = await World.create(t);
    await fleet(world, 12);
    await world.pass(five);
    const base = await generations(world);
    await world.setConfigMap('shared', { v: '2' });
    const common = [
      `--state=${world.statePath}`,
      `--namespaces=${world.namespace}`,
      `--lease-namespace=${world.namespace}`,
      '--lease-duration=2s',
      five,
    ];

    // A long-running instance: killed after its first pass, while it waits for the next.
    const first = startCli(t, ['run', `--kubeconfig=${admin}`, ...common, '--interval=1h']);
    await eventually('the first pass to end', () =>
      Promise.resolve(/pass done/.test(first.output()) ? true : undefined),
    );
    first.kill('SIGKILL');
    await first.exited;
    assert.equal((await rolled(world, base)).length, 5, first.output());

    // Another holder, slowed by a proxy and killed inside its batch, after some of its patches.
    await sleep(2500); // the Lease the killed one holds expires
    const proxy = await FaultProxy.start(serverOf(admin));
    const dir = mkdtempSync(join(tmpdir(), 'polling-reloader-batches-'));
    t.after(async () => {
      await proxy.close();
      rmSync(dir, { recursive: true, force: true });
    });
    proxy.delayMs = 150;
    const second = startCli(t, [
      'run',
      '--once',
      `--kubeconfig=${proxy.kubeconfig(admin, dir)}`,
      ...common,
    ]);
    const partial = await eventually(
      'the second instance to roll part of its batch',
      async () => {
        const done = (await rolled(world, base)).length;
        return done > 5 ? done : undefined;
      },
      60_000,
      20,
    );
    second.kill('SIGKILL');
    await second.exited;
    const cut = (await rolled(world, base)).length;
    assert.ok(cut > 5 && cut < 10, `the kill came inside the batch: ${cut} rolled (${partial})`);

    await sleep(2500);
    const runs: number[] = [];
    while (runs.length < 3) {
      const next = startCli(t, ['run', '--once', `--kubeconfig=${admin}`, ...common]);
      assert.equal(await next.exited, 0, next.output());
      runs.push((await rolled(world, base)).length);
    }
    assert.equal(
      runs[0],
      Math.min(12, cut + 5),
      'the next pass rolls a full batch of what is left',
    );
    assert.deepEqual(runs.slice(1), [12, 12]);
    const counts = await rolls(world, base);
    assert.ok(
      [...counts.values()].every((n) => n === 1),
      JSON.stringify([...counts]),
    );
  });
});
