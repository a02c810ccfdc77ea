import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  heldSinceNext,
  nextWaits,
  selectBatch,
  type BatchInput,
  type BatchOptions,
} from './batches.js';
import { workloadId, type WorkloadKind } from './model.js';
import type { Reload } from './plan.js';
import type { RolloutHealth } from './rollout-health.js';

function reload(
  name: string,
  extra: Partial<Reload> = {},
  kind: WorkloadKind = 'Deployment',
): Reload {
  return {
    workload: { kind, namespace: 'ns', name, annotations: {}, references: [], record: {} },
    triggers: [{ kind: 'ConfigMap', name: 'cfg', rule: 'auto', reason: 'updated', hash: 'h2' }],
    record: { 'ConfigMap/cfg': 'h2' },
    pause: false,
    resume: false,
    ...extra,
  };
}

const id = (name: string): string => `ns/Deployment/${name}`;
const names = (reloads: { workload: { name: string } }[]): string[] =>
  reloads.map((r) => r.workload.name);

const available: RolloutHealth = { state: 'available', detail: 'available' };
const progressing: RolloutHealth = { state: 'progressing', detail: '0 of 1 replicas available' };
const stalled: RolloutHealth = { state: 'stalled', detail: 'progress deadline exceeded' };
const untracked: RolloutHealth = { state: 'untracked', detail: 'a CronJob' };

function select(
  reloads: Reload[],
  options: Partial<BatchOptions> = {},
  extra: Partial<BatchInput> = {},
): ReturnType<typeof selectBatch> {
  return selectBatch({
    reloads,
    heldSince: new Map(),
    waitingFor: [],
    health: new Map(),
    options: { maxPerPass: undefined, waitHealthy: false, ...options },
    ...extra,
  });
}

describe('selectBatch: --max-reloads-per-pass', () => {
  it('without a limit, everything rolls, in the order of the plan', () => {
    const reloads = ['c', 'a', 'b'].map((n) => reload(n));
    const batch = select(reloads);
    assert.deepEqual(names(batch.now), ['c', 'a', 'b']);
    assert.deepEqual(batch.held, []);
  });

  it('rolls the first N in namespace/Kind/name order and holds the rest back in line', () => {
    const reloads = ['d', 'b', 'e', 'a', 'c'].map((n) => reload(n));
    const batch = select(reloads, { maxPerPass: 2 });
    assert.deepEqual(names(batch.now), ['b', 'a'], 'in the order of the plan');
    assert.deepEqual(
      batch.held.map((h) => [h.reload.workload.name, h.cause, h.place]),
      [
        ['c', 'batch-full', 1],
        ['d', 'batch-full', 2],
        ['e', 'batch-full', 3],
      ],
    );
  });

  it('orders by namespace, then kind, then name', () => {
    const reloads = [
      reload('a', {}, 'StatefulSet'),
      reload('z', {}, 'Deployment'),
      { ...reload('b'), workload: { ...reload('b').workload, namespace: 'aa' } },
    ];
    const batch = select(reloads, { maxPerPass: 1 });
    assert.deepEqual(
      [...batch.now, ...batch.held.map((h) => h.reload)].map((r) => workloadId(r.workload)),
      ['aa/Deployment/b', 'ns/Deployment/z', 'ns/StatefulSet/a'],
    );
  });

  it('rolls the reloads held back longest first, so that new changes cannot starve them', () => {
    const reloads = ['a', 'b', 'x', 'y'].map((n) => reload(n));
    const heldSince = new Map([
      [id('y'), '2024-05-01T10:00:00.000Z'],
      [id('x'), '2024-05-01T11:00:00.000Z'],
    ]);
    const batch = select(reloads, { maxPerPass: 2 }, { heldSince });
    assert.deepEqual(names(batch.now), ['x', 'y']);
    assert.deepEqual(
      batch.held.map((h) => [h.reload.workload.name, h.since]),
      [
        ['a', undefined],
        ['b', undefined],
      ],
    );
  });

  it('a roll-at-once workload rolls now and takes no place in the batch', () => {
    const reloads = [reload('a'), reload('b'), reload('z', { rollAtOnce: true })];
    const batch = select(reloads, { maxPerPass: 1 });
    assert.deepEqual(names(batch.now), ['a', 'z']);
    assert.deepEqual(names(batch.held.map((h) => h.reload)), ['b']);
  });
});

describe('selectBatch: --wait-healthy', () => {
  const reloads = ['c', 'd'].map((n) => reload(n));

  it('holds every batched reload while a workload rolled before is not available', () => {
    for (const health of [progressing, stalled]) {
      const batch = select(
        [...reloads, reload('z', { rollAtOnce: true })],
        { waitHealthy: true, maxPerPass: 5 },
        {
          waitingFor: [id('a'), id('b')],
          health: new Map([
            [id('a'), health],
            [id('b'), available],
          ]),
        },
      );
      assert.deepEqual(names(batch.now), ['z'], 'roll-at-once still rolls');
      assert.deepEqual(
        batch.held.map((h) => [h.reload.workload.name, h.cause]),
        [
          ['c', 'waiting'],
          ['d', 'waiting'],
        ],
      );
      assert.deepEqual(batch.blocking, [{ id: id('a'), health }]);
      assert.deepEqual(batch.stalled.length, health === stalled ? 1 : 0);
    }
  });

  it('goes on when the workloads rolled before are available, untracked or gone', () => {
    const health = new Map([
      [id('a'), available],
      [id('b'), untracked],
    ]);
    const batch = select(
      reloads,
      { waitHealthy: true },
      { waitingFor: [id('a'), id('b'), id('gone')], health },
    );
    assert.deepEqual(names(batch.now), ['c', 'd']);
    assert.deepEqual(batch.blocking, []);
  });

  it('does not wait for a workload that is itself reloaded again: a new change supersedes its rollout', () => {
    // a rolled with a broken config and stalled; the fixed config triggers it again.
    const batch = select(
      [reload('a'), ...reloads],
      { waitHealthy: true, maxPerPass: 2 },
      { waitingFor: [id('a')], health: new Map([[id('a'), stalled]]) },
    );
    assert.deepEqual(names(batch.now), ['a', 'c']);
    assert.deepEqual(batch.blocking, []);
  });

  it('without --wait-healthy, nothing waits', () => {
    const batch = select(
      reloads,
      {},
      { waitingFor: [id('a')], health: new Map([[id('a'), stalled]]) },
    );
    assert.deepEqual(names(batch.now), ['c', 'd']);
    assert.deepEqual(batch.blocking, []);
  });
});

describe('what the next pass remembers', () => {
  it('nextWaits: the rollouts still blocking and those rolled now, roll-at-once aside', () => {
    const options = { waitHealthy: true, maxPerPass: 1 };
    const batch = select([reload('c')], options, {
      waitingFor: [id('a')],
      health: new Map([[id('a'), progressing]]),
    });
    assert.deepEqual(nextWaits(batch, [reload('b'), reload('z', { rollAtOnce: true })], options), [
      id('a'),
      id('b'),
    ]);
    assert.deepEqual(nextWaits(batch, [reload('b')], { ...options, waitHealthy: false }), []);
  });

  it('heldSinceNext: keeps when each was first held back, and stamps the new ones', () => {
    const now = new Date('2024-05-01T12:00:00.000Z');
    const heldSince = new Map([[id('b'), '2024-05-01T10:00:00.000Z']]);
    const batch = select(
      ['a', 'b', 'c'].map((n) => reload(n)),
      { maxPerPass: 1 },
      { heldSince },
    );
    assert.deepEqual(heldSinceNext(batch.held, now), {
      [id('a')]: '2024-05-01T12:00:00.000Z',
      [id('c')]: '2024-05-01T12:00:00.000Z',
    });
    assert.deepEqual(names(batch.now), ['b']);
  });
});
