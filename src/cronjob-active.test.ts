import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { activeWith, controllingCronJob } from './cronjob-active.js';
import type { WorkloadObject } from './workloads.js';

const job = (uid: string, ownerReferences?: unknown[]): WorkloadObject => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: {
    name: 'nightly-1',
    namespace: 'ns',
    uid,
    resourceVersion: '9',
    ...(ownerReferences && { ownerReferences: ownerReferences as never }),
  },
});

const ref = (uid: string, name = 'nightly-1') => ({
  kind: 'Job',
  namespace: 'ns',
  name,
  uid,
  apiVersion: 'batch/v1',
  resourceVersion: '9',
});

describe('a re-created Job in its CronJob status.active', () => {
  it('takes the place of the Job it replaces, beside the others', () => {
    assert.deepEqual(activeWith([ref('a', 'other'), ref('old')], 'old', job('new')), [
      ref('a', 'other'),
      ref('new'),
    ]);
  });

  it('is added when the controller already dropped the old one', () => {
    assert.deepEqual(activeWith([], 'old', job('new')), [ref('new')]);
  });

  it('nothing to write when the list already says so', () => {
    assert.equal(activeWith([ref('new')], 'old', job('new')), undefined);
  });

  it('the old one goes even when the new one is already listed', () => {
    assert.deepEqual(activeWith([ref('new'), ref('old')], 'old', job('new')), [ref('new')]);
  });

  it('only a controlling CronJob of batch counts as the owner', () => {
    const owner = { apiVersion: 'batch/v1', kind: 'CronJob', name: 'nightly', uid: 'c' };
    assert.deepEqual(controllingCronJob(job('j', [{ ...owner, controller: true }])), {
      name: 'nightly',
      uid: 'c',
    });
    assert.equal(controllingCronJob(job('j', [owner])), undefined, 'not its controller');
    assert.equal(
      controllingCronJob(job('j', [{ ...owner, apiVersion: 'example.com/v1', controller: true }])),
      undefined,
      'another API group',
    );
    assert.equal(controllingCronJob(job('j')), undefined, 'no owner');
  });
});
