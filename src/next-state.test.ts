import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Source } from './model.js';
import { nextState } from './next-state.js';
import type { Reason, Reload } from './plan.js';
import { reload as fixtureReload, trigger } from './reports/fixtures.test-helper.js';
import type { ObservedSource } from './state.js';

const now = new Date('2024-05-01T12:00:00.000Z');

function source(name: string, hash: string): Source {
  return {
    kind: 'ConfigMap',
    namespace: 'ns',
    name,
    uid: `uid-${name}`,
    resourceVersion: '2',
    hash,
  };
}

function entry(hash: string): ObservedSource {
  return { uid: 'uid', resourceVersion: '1', hash };
}

function reload(name: string, triggers: [string, Reason][]): Reload {
  return fixtureReload(name, {
    triggers: triggers.map(([source, reason]) => trigger({ name: source, reason, hash: 'new' })),
  });
}

describe('nextState', () => {
  const sources = [source('a', 'new'), source('b', 'new'), source('c', 'new')];
  const observed = { 'ns/ConfigMap/a': entry('old'), 'ns/ConfigMap/b': entry('old') };

  it('keeps the change of a held-back reload pending, as that of a failed one', () => {
    const next = nextState('k', now, sources, observed, {
      failed: [reload('x', [['a', 'updated']])],
      heldBack: [reload('y', [['b', 'updated']]), reload('z', [['c', 'created']])],
    });
    assert.deepEqual(next.data.sources['ns/ConfigMap/a'], entry('old'));
    assert.deepEqual(next.data.sources['ns/ConfigMap/b'], entry('old'));
    assert.equal(next.data.sources['ns/ConfigMap/c'], undefined, 'a creation stays a creation');
    assert.deepEqual(next.pending.sort(), ['ns/ConfigMap/a', 'ns/ConfigMap/b', 'ns/ConfigMap/c']);
  });

  it('keeps nothing for a held-back reload its workload explains itself (record, label)', () => {
    // A baseline has no old entry to keep: dropping the source would make it look created.
    const next = nextState(
      'k',
      now,
      sources,
      {},
      { heldBack: [reload('y', [['b', 'outdated']]), reload('z', [['c', 'held-back']])] },
    );
    assert.equal(next.data.sources['ns/ConfigMap/b']?.hash, 'new');
    assert.equal(next.data.sources['ns/ConfigMap/c']?.hash, 'new');
    assert.deepEqual(next.pending, []);
  });
});
