import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { mapLimit } from './map-limit.js';

describe('mapLimit', () => {
  it('runs at most `limit` at a time and keeps the order of the items', async () => {
    let running = 0;
    let most = 0;
    const out = await mapLimit([30, 5, 20, 1, 10], 2, async (ms) => {
      running++;
      most = Math.max(most, running);
      await sleep(ms);
      running--;
      return ms * 2;
    });
    assert.deepEqual(out, [60, 10, 40, 2, 20]);
    assert.equal(most, 2);
  });

  it('throws the first failure and starts nothing after it', async () => {
    const started: number[] = [];
    await assert.rejects(
      mapLimit([1, 2, 3, 4], 1, async (n) => {
        started.push(n);
        await sleep(1);
        if (n === 2) throw new Error('two');
        return n;
      }),
      /two/,
    );
    assert.deepEqual(started, [1, 2]);
  });

  it('an empty list is an empty result', async () => {
    assert.deepEqual(await mapLimit([], 4, () => Promise.resolve(1)), []);
  });
});
