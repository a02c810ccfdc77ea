import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { selectBatch, type BatchOptions } from './batches.js';
import { describeListed, formatPlan } from './explain.js';
import type { PassReport } from './pass.js';
import type { Reload } from './plan.js';
import {
  reload as fixtureReload,
  report as fixtureReport,
  trigger,
} from './reports/fixtures.test-helper.js';
import type { RolloutHealth } from './rollout-health.js';

/** A Deployment reloaded for ConfigMap `cfg`. */
function reload(name: string, rollAtOnce = false): Reload {
  return fixtureReload(name, {
    triggers: [trigger({ name: 'cfg' })],
    record: { 'ConfigMap/cfg': 'h2' },
    ...(rollAtOnce ? { rollAtOnce } : {}),
  });
}

/** A dry run's report of these reloads, batched with `options`. */
function report(
  reloads: Reload[],
  options: BatchOptions,
  wait: { ids?: string[]; health?: [string, RolloutHealth][]; since?: [string, string][] } = {},
): PassReport {
  const batch = selectBatch({
    reloads,
    heldSince: new Map(wait.since ?? []),
    waitingFor: wait.ids ?? [],
    health: new Map(wait.health ?? []),
    options,
  });
  return fixtureReport([], {
    sources: 1,
    workloads: reloads.length,
    workloadsByKind: { Deployment: reloads.length },
    saved: false,
    changes: [{ kind: 'ConfigMap', namespace: 'ns', name: 'cfg', type: 'updated', hash: 'h2' }],
    plan: { reloads, warnings: [] },
    batch: { ...batch, options, warnings: [] },
    api: { requests: 0, bytesRead: 0, connections: 0 },
  });
}

describe('formatPlan: batches', () => {
  it('says which reloads roll now, which wait, in which place and why', () => {
    const text = formatPlan(
      report(
        [reload('a'), reload('b'), reload('c'), reload('z', true)],
        {
          maxPerPass: 1,
          waitHealthy: false,
        },
        { since: [['ns/Deployment/c', '2024-05-01T10:00:00.000Z']] },
      ),
    );
    assert.match(text, /^batches: at most 1 reloads a pass \(the oldest held back first/m);
    assert.match(text, /^reload ns\/Deployment\/c$/m);
    assert.match(text, /^reload ns\/Deployment\/z \(roll-at-once: outside the batches\)$/m);
    assert.match(
      text,
      /^hold ns\/Deployment\/a \(1st in line\): batch full \(1 reloads a pass\)$/m,
    );
    assert.match(text, /^hold ns\/Deployment\/b \(2nd in line\): batch full/m);
    assert.match(text, /^ {2}because ConfigMap\/cfg: its content changed/m);
  });

  it('names the rollouts a batch waits for, and a stalled one', () => {
    const stalled: RolloutHealth = { state: 'stalled', detail: 'progress deadline exceeded' };
    const text = formatPlan(
      report(
        [reload('b')],
        { maxPerPass: undefined, waitHealthy: true },
        {
          ids: ['ns/Deployment/a'],
          health: [['ns/Deployment/a', stalled]],
        },
      ),
    );
    assert.match(text, /each batch waits until the one before it is available/);
    assert.match(text, /^ {2}waiting for ns\/Deployment\/a: STALLED, progress deadline exceeded$/m);
    assert.match(
      text,
      /^hold ns\/Deployment\/b \(1st in line\): waiting for ns\/Deployment\/a to be available$/m,
    );
  });

  it('says nothing of batches when no flag asks for them', () => {
    const text = formatPlan(report([reload('a')], { maxPerPass: undefined, waitHealthy: false }));
    assert.doesNotMatch(text, /batch|hold/);
    assert.match(text, /^reload ns\/Deployment\/a$/m);
  });
});

describe('describeListed', () => {
  it('says how many workloads the pass listed, and in which namespaces when not all', () => {
    assert.equal(describeListed({ workloads: undefined }), 'no workloads listed');
    assert.equal(describeListed({ workloads: 40 }), '40 workloads listed (all in scope)');
    assert.equal(
      describeListed({ workloads: 3, workloadNamespaces: ['a'] }),
      '3 workloads listed in namespace a',
    );
    assert.equal(
      describeListed({ workloads: 0, workloadNamespaces: ['a', 'b'] }),
      '0 workloads listed in namespaces a, b',
    );
  });

  it("heads the plan's explanation", () => {
    const text = formatPlan({
      ...report([reload('a')], { maxPerPass: undefined, waitHealthy: false }),
      workloadNamespaces: ['ns'],
    });
    assert.match(
      text,
      /^1 ConfigMaps\/Secrets and 1 workloads listed in namespace ns; 1 changed$/m,
    );
  });
});
