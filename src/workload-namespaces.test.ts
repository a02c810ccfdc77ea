import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  clusterWideAbove,
  workloadNamespaces,
  type WorkloadNamespacesInput,
} from './workload-namespaces.js';

const clusterWide = { namespaces: undefined, includes: () => true };
const steady = { paused: undefined, heldBack: undefined, waitingFor: undefined };

function input(over: Partial<WorkloadNamespacesInput>): WorkloadNamespacesInput {
  return { changes: [], previous: steady, scope: clusterWide, webhook: false, ...over };
}

const inNamespaces = (...namespaces: string[]): { namespace: string }[] =>
  namespaces.map((namespace) => ({ namespace }));

describe('workloadNamespaces', () => {
  it('lists nothing when nothing changed and nothing is pending', () => {
    assert.deepEqual(workloadNamespaces(input({})), { list: 'none' });
    const empty = { paused: [], heldBack: {}, waitingFor: [] };
    assert.deepEqual(workloadNamespaces(input({ previous: empty })), { list: 'none' });
  });

  it('lists everything in scope on a baseline, changes or not', () => {
    assert.deepEqual(workloadNamespaces(input({ previous: undefined })), { list: 'all' });
    const scope = { namespaces: ['a', 'b'], includes: () => true };
    assert.deepEqual(workloadNamespaces(input({ previous: undefined, scope })), { list: 'all' });
  });

  it('lists nothing in webhook mode, not even on a baseline', () => {
    assert.deepEqual(workloadNamespaces(input({ webhook: true, previous: undefined })), {
      list: 'none',
    });
    assert.deepEqual(workloadNamespaces(input({ webhook: true, changes: inNamespaces('a') })), {
      list: 'none',
    });
  });

  it('lists the namespaces of the changes, once each, sorted', () => {
    assert.deepEqual(workloadNamespaces(input({ changes: inNamespaces('b', 'a', 'b') })), {
      list: 'namespaces',
      namespaces: ['a', 'b'],
    });
  });

  it('adds the namespace of every paused rollout, held-back reload and awaited rollout', () => {
    const previous = {
      paused: ['p/Deployment/web'],
      heldBack: { 'h/StatefulSet/db': '2024-05-01T12:00:00.000Z' },
      waitingFor: ['w/Rollout/api'],
    };
    assert.deepEqual(workloadNamespaces(input({ changes: inNamespaces('a'), previous })), {
      list: 'namespaces',
      namespaces: ['a', 'h', 'p', 'w'],
    });
    // Each alone is reason enough to list, without any change.
    for (const only of [
      { ...steady, paused: previous.paused },
      { ...steady, heldBack: previous.heldBack },
      { ...steady, waitingFor: previous.waitingFor },
    ]) {
      assert.equal(workloadNamespaces(input({ previous: only })).list, 'namespaces');
    }
  });

  it('keeps only the namespaces the scope lists: those of --namespaces, not ignored ones', () => {
    const previous = { ...steady, paused: ['gone/Deployment/web', 'b/Deployment/web'] };
    const scope = { namespaces: ['a', 'b', 'c'], includes: (ns: string) => ns !== 'c' };
    assert.deepEqual(
      workloadNamespaces(input({ changes: inNamespaces('a', 'c'), previous, scope })),
      { list: 'namespaces', namespaces: ['a', 'b'] },
    );
    const outside = { ...steady, heldBack: { 'gone/Deployment/web': '2024-05-01T12:00:00.000Z' } };
    assert.deepEqual(workloadNamespaces(input({ previous: outside, scope })), { list: 'none' });
  });

  it(`lists cluster-wide above ${clusterWideAbove} namespaces, unless the scope is a list of namespaces`, () => {
    const names = Array.from({ length: clusterWideAbove + 1 }, (_, i) => `ns-${String(i)}`);
    const atMost = workloadNamespaces(input({ changes: inNamespaces(...names.slice(1)) }));
    assert.deepEqual(atMost, { list: 'namespaces', namespaces: names.slice(1).sort() });
    assert.deepEqual(workloadNamespaces(input({ changes: inNamespaces(...names) })), {
      list: 'all',
    });
    const listed = { namespaces: [...names, 'other'], includes: () => true };
    assert.deepEqual(
      workloadNamespaces(input({ changes: inNamespaces(...names), scope: listed })),
      { list: 'namespaces', namespaces: [...names].sort() },
    );
  });
});
