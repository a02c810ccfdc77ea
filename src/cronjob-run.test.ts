import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cronJobSuspended, instantiateAnnotation, jobFromCronJob } from './cronjob-run.js';
import type { JsonPatchOp } from './patches.js';
import type { WorkloadObject } from './workloads.js';

const cronJob = (name: string, resourceVersion = '7'): WorkloadObject => ({
  apiVersion: 'batch/v1',
  kind: 'CronJob',
  metadata: { name, namespace: 'ns', uid: 'uid-1', resourceVersion },
  spec: {
    schedule: '0 3 * * *',
    jobTemplate: {
      metadata: { labels: { app: 'x' }, annotations: { note: 'kept' } },
      spec: { backoffLimit: 1, template: { metadata: {}, spec: { containers: [] } } },
    },
  },
});

const ops: JsonPatchOp[] = [
  { op: 'test', path: '/metadata/resourceVersion', value: '7' },
  {
    op: 'add',
    path: '/spec/jobTemplate/spec/template/metadata/annotations',
    value: { reloaded: 'yes' },
  },
];
const triggers = [{ kind: 'ConfigMap', name: 'app', hash: 'h2' }];

describe('jobFromCronJob', () => {
  it('builds the Job as Reloader does: the reloaded job template, instantiate: manual, owned by the CronJob', () => {
    const job = jobFromCronJob(cronJob('nightly'), ops, triggers);
    const meta = job.metadata ?? {};
    assert.match(meta.name ?? '', /^nightly-[0-9a-f]{10}$/);
    assert.equal(meta.namespace, 'ns');
    assert.deepEqual(meta.annotations, {
      [instantiateAnnotation]: 'manual',
      note: 'kept',
    });
    assert.deepEqual(meta.labels, { app: 'x' });
    assert.deepEqual(meta.ownerReferences, [
      {
        apiVersion: 'batch/v1',
        kind: 'CronJob',
        name: 'nightly',
        uid: 'uid-1',
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    const spec = job.spec as { backoffLimit: number; template: { metadata: object } };
    assert.equal(spec.backoffLimit, 1);
    assert.deepEqual(
      spec.template.metadata,
      { annotations: { reloaded: 'yes' } },
      'the new template',
    );
  });

  it('names the Job after the reload: the same reload retried, the same name', () => {
    const name = (o: WorkloadObject, t = triggers): string | undefined =>
      jobFromCronJob(o, ops, t).metadata?.name;
    assert.equal(name(cronJob('nightly')), name(cronJob('nightly')));
    assert.notEqual(name(cronJob('nightly')), name(cronJob('nightly', '8')), 'a later reload');
    assert.notEqual(
      name(cronJob('nightly')),
      name(cronJob('nightly'), [{ kind: 'ConfigMap', name: 'app', hash: 'h3' }]),
    );
    assert.ok((name(cronJob('c'.repeat(52))) ?? '').length <= 63);
  });

  it('knows a suspended CronJob', () => {
    assert.equal(cronJobSuspended(cronJob('a')), false);
    assert.equal(cronJobSuspended({ ...cronJob('a'), spec: { suspend: true } }), true);
  });
});
