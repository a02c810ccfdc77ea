import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ObservedSource, StateData } from './state.js';
import { stateText } from './state-text.js';

function entries(n: number, prefix: string): Record<string, ObservedSource> {
  const out: Record<string, ObservedSource> = {};
  for (let i = 0; i < n; i++) {
    out[`ns/${prefix}/"odd" name-${i}`] = { uid: `u${i}`, resourceVersion: `${i}`, hash: 'h' };
  }
  return out;
}

const full: StateData = {
  version: 1,
  keyId: 'k',
  savedAt: 'then',
  sources: entries(1234, 'ConfigMap'),
  podStatuses: entries(3, 'SecretProviderClassPodStatus'),
  paused: ['a/Deployment/b'],
  heldBack: { 'a/Deployment/c': 'since' },
  waitingFor: undefined,
  labelSelector: 'team=a',
};

describe('stateText', () => {
  for (const [name, data] of Object.entries({
    full,
    'no entries': { ...full, sources: {}, podStatuses: undefined },
  })) {
    it(`reads back as the state, with its keys in order (${name})`, () => {
      const text = [...stateText(data, 100)].join('');
      assert.equal(JSON.stringify(JSON.parse(text)), JSON.stringify(data));
    });
  }

  it('never holds more than a piece of entries at a time', () => {
    const pieces = [...stateText(full, 100)];
    assert.ok(pieces.length > 12, `${pieces.length} pieces`);
    const longest = Math.max(...pieces.map((p) => p.length));
    assert.ok(longest < 100 * 100, `longest piece ${longest} characters`);
  });
});
