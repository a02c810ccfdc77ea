import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { listingFingerprint, stateFingerprint } from './fingerprint.js';
import type { Source } from './model.js';
import type { ObservedSource, StateData } from './state.js';

const sources: Source[] = Array.from({ length: 50 }, (_, i) => ({
  kind: i % 2 ? 'Secret' : 'ConfigMap',
  namespace: `ns-${i % 3}`,
  name: `s-${i}`,
  uid: `uid-${i}`,
  resourceVersion: `${100 + i}`,
  hash: `hash-${i}`,
}));

function stateOf(listed: Source[], extra: Partial<StateData> = {}): StateData {
  const entries = listed.map((s): [string, ObservedSource] => [
    `${s.namespace}/${s.kind}/${s.name}`,
    { uid: s.uid, resourceVersion: s.resourceVersion, hash: s.hash },
  ]);
  return {
    version: 1,
    keyId: 'k',
    savedAt: 'then',
    sources: Object.fromEntries(entries),
    ...extra,
  };
}

describe('fingerprints', () => {
  it('a state says what was listed, in whatever order', () => {
    const reversed = [...sources].reverse();
    assert.equal(stateFingerprint(stateOf(reversed)), listingFingerprint(sources));
    assert.equal(
      stateFingerprint(stateOf(sources, { labelSelector: 'team=a' })),
      listingFingerprint(sources, 'team=a'),
    );
  });

  it('tells a moved, added, removed or re-created source, and another label selector', () => {
    const state = stateFingerprint(stateOf(sources));
    const moved = sources.map((s, i) => (i === 7 ? { ...s, resourceVersion: '999' } : s));
    const recreated = sources.map((s, i) => (i === 7 ? { ...s, uid: 'other' } : s));
    const added = [...sources, { ...sources[0], name: 'new' } as Source];
    const removed = sources.slice(1);
    for (const listing of [moved, recreated, added, removed]) {
      assert.notEqual(listingFingerprint(listing), state);
    }
    assert.notEqual(listingFingerprint(sources, 'team=a'), state);
  });

  it('a state with anything else pending has none', () => {
    for (const extra of [
      { paused: ['a/Deployment/b'] },
      { heldBack: { 'a/Deployment/b': 'since' } },
      { waitingFor: ['a/Deployment/b'] },
      {
        podStatuses: {
          'a/SecretProviderClassPodStatus/p': { uid: 'u', resourceVersion: '1', hash: 'h' },
        },
      },
    ]) {
      assert.equal(stateFingerprint(stateOf(sources, extra)), undefined, JSON.stringify(extra));
    }
    assert.ok(stateFingerprint(stateOf(sources, { paused: [], heldBack: {} })));
  });
});
