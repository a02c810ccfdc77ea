import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultAnnotationNames as names } from './annotations.js';
import { readRecord, toWorkload, type WorkloadObject } from './workloads.js';

const record = (at: string, hash: string): string =>
  JSON.stringify({ key: 'k', at, hashes: { 'ConfigMap/cfg': hash } });

describe('readRecord', () => {
  it('takes the newer record when both the template and the metadata carry one', () => {
    // A Rollout reloaded through its template, then switched to rollout-strategy: restart.
    const rollout: WorkloadObject = {
      metadata: {
        name: 'r',
        annotations: { [names.record]: record('2024-05-01T12:00:00Z', 'h2') },
      },
      spec: {
        template: {
          metadata: { annotations: { [names.record]: record('2024-04-01T12:00:00Z', 'h1') } },
        },
      },
    };
    assert.equal(readRecord(rollout, 'Rollout', names)?.hashes['ConfigMap/cfg'], 'h2');
  });

  it('ignores a record that is not JSON or not a record', () => {
    const bad = (value: string): WorkloadObject => ({
      metadata: { name: 'd' },
      spec: { template: { metadata: { annotations: { [names.record]: value } } } },
    });
    assert.equal(readRecord(bad('{'), 'Deployment', names), undefined);
    assert.equal(readRecord(bad('{"hashes":{}}'), 'Deployment', names), undefined);
  });
});

describe("toWorkload: Reloader's records", () => {
  const lastReloadedFrom = JSON.stringify({
    type: 'CONFIGMAP',
    name: 'cfg',
    namespace: 'ns',
    hash: 'a'.repeat(40),
  });
  const deployment = (annotations: Record<string, string>): WorkloadObject => ({
    metadata: { name: 'd', namespace: 'ns' },
    spec: { template: { metadata: { annotations }, spec: { containers: [] } } },
  });

  it('are read from a workload polling-reloader never reloaded', () => {
    const w = toWorkload(
      deployment({ [names.lastReloadedFrom]: lastReloadedFrom }),
      'Deployment',
      names,
      'k',
    );
    assert.equal(w?.reloader?.lastReloadedFrom?.key, 'ConfigMap/cfg');
  });

  it('are not read once polling-reloader has a record there, whatever its key', () => {
    const annotations = {
      [names.lastReloadedFrom]: lastReloadedFrom,
      [names.record]: record('t', 'h'),
    };
    const w = toWorkload(deployment(annotations), 'Deployment', names, 'another key');
    assert.equal(w?.reloader, undefined);
  });
});
