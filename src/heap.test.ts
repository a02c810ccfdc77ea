import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fullCollector, majorCollector } from './heap.js';

describe('collectors', () => {
  for (const [name, collector] of [
    ['fullCollector', fullCollector],
    ['majorCollector', majorCollector],
  ] as const) {
    it(`${name} collects a pass's garbage at once, without --expose-gc on the command line`, () => {
      const collect = collector();
      const pass: { pages?: unknown[] } = {
        pages: Array.from({ length: 200_000 }, (_, i) => ({ i })),
      };
      const held = process.memoryUsage().heapUsed;
      delete pass.pages;
      collect();
      assert.ok(process.memoryUsage().heapUsed < held - 4 * 2 ** 20);
    });
  }

  it('fullCollector hands the pages it frees back to the system', () => {
    const collect = fullCollector();
    collect();
    const before = process.memoryUsage.rss();
    const pass: { pages?: unknown[] } = {
      pages: Array.from({ length: 400_000 }, (_, i) => ({ i, text: `x${i}` })),
    };
    const held = process.memoryUsage.rss();
    delete pass.pages;
    collect();
    // A plain full collection keeps nearly all of it (pooled pages); this one returns most.
    assert.ok(process.memoryUsage.rss() < before + (held - before) / 2);
  });
});
