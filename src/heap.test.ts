import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fullCollector, majorCollector } from './heap.js';

describe('fullCollector', () => {
  it('collects the garbage of a pass at once, without --expose-gc on the command line', () => {
    const collect = fullCollector();
    const pass: { pages?: unknown[] } = {
      pages: Array.from({ length: 200_000 }, (_, i) => ({ i })),
    };
    const held = process.memoryUsage().heapUsed;
    delete pass.pages;
    collect();
    assert.ok(process.memoryUsage().heapUsed < held - 4 * 2 ** 20);
  });

  it('hands the pages it frees back to the system', () => {
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

  it('a major collection between phases frees what a phase let go of', () => {
    const collect = majorCollector();
    const phase: { copies?: unknown[] } = {
      copies: Array.from({ length: 200_000 }, (_, i) => ({ i })),
    };
    const held = process.memoryUsage().heapUsed;
    delete phase.copies;
    collect();
    assert.ok(process.memoryUsage().heapUsed < held - 4 * 2 ** 20);
  });
});
