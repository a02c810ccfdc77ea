import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { labelSelector, parseRunFlags, passOptions } from './options.js';

describe('labelSelector', () => {
  it("turns Reloader's key:value and key:* into a Kubernetes selector", () => {
    assert.equal(labelSelector('team:a,reload:*'), 'team=a,reload');
    assert.equal(labelSelector('example.com/team:x'), 'example.com/team=x');
  });

  it('keeps Kubernetes selectors, set-based ones included', () => {
    assert.equal(labelSelector('app=web,tier!=db'), 'app=web,tier!=db');
    assert.equal(labelSelector('env in (a,b),!legacy'), 'env in (a,b),!legacy');
  });

  it('refuses what is neither, instead of reading part of it', () => {
    for (const bad of ['a:b:c', 'a=b c', '=x', 'env in a']) {
      assert.throws(() => labelSelector(bad), /is not a label selector term/, bad);
    }
  });
});

describe('durations', () => {
  it('refuses a duration longer than a timer can wait', () => {
    assert.throws(() => parseRunFlags(['--interval=600h']), /longer than 24 days/);
    assert.equal(parseRunFlags(['--interval=10s']).interval, 10_000);
  });
});

describe('reload storm flags (SPEC §10)', () => {
  it('--max-reloads-per-pass takes a whole number of at least 1; unlimited by default', () => {
    assert.equal(passOptions(parseRunFlags([])).batch.maxPerPass, undefined);
    assert.equal(passOptions(parseRunFlags(['--max-reloads-per-pass=5'])).batch.maxPerPass, 5);
    for (const bad of ['0', '-1', '2.5', 'ten', '']) {
      assert.throws(
        () => parseRunFlags([`--max-reloads-per-pass=${bad}`]),
        /not a whole number of at least 1/,
        bad,
      );
    }
  });

  it('--wait-healthy is a boolean, off by default', () => {
    assert.equal(passOptions(parseRunFlags([])).batch.waitHealthy, false);
    assert.equal(passOptions(parseRunFlags(['--wait-healthy'])).batch.waitHealthy, true);
    assert.equal(passOptions(parseRunFlags(['--wait-healthy=false'])).batch.waitHealthy, false);
  });
});
