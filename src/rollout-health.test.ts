import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WorkloadKind } from './model.js';
import { blocksBatches, rolloutHealth, type RolloutObject } from './rollout-health.js';

function obj(generation: number, spec: Record<string, unknown>, status: object): RolloutObject {
  return { metadata: { generation }, spec, status };
}

const state = (kind: WorkloadKind, o: RolloutObject): string => rolloutHealth(o, kind).state;

const deadline = {
  type: 'Progressing',
  status: 'False',
  reason: 'ProgressDeadlineExceeded',
  message: 'ReplicaSet "web-5d" has timed out progressing.',
};

describe('rolloutHealth: Deployment', () => {
  const done = { observedGeneration: 3, replicas: 2, updatedReplicas: 2, availableReplicas: 2 };

  it('is available once its controller saw the template and every replica is updated and available', () => {
    assert.equal(state('Deployment', obj(3, { replicas: 2 }, done)), 'available');
  });

  it('is progressing while the controller has not seen the new generation', () => {
    const health = rolloutHealth(obj(4, { replicas: 2 }, done), 'Deployment');
    assert.equal(health.state, 'progressing');
    assert.match(health.detail, /not yet seen generation 4/);
  });

  it('is progressing while replicas are not updated, old ones still run, or new ones are not available', () => {
    const spec = { replicas: 2 };
    assert.equal(state('Deployment', obj(3, spec, { ...done, updatedReplicas: 1 })), 'progressing');
    assert.equal(state('Deployment', obj(3, spec, { ...done, replicas: 3 })), 'progressing');
    const unavailable = rolloutHealth(
      obj(3, spec, { ...done, availableReplicas: 1 }),
      'Deployment',
    );
    assert.deepEqual(unavailable, { state: 'progressing', detail: '1 of 2 replicas available' });
  });

  it('defaults spec.replicas to 1, and a Deployment scaled to 0 is available', () => {
    const one = { observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: 1 };
    assert.equal(state('Deployment', obj(1, {}, one)), 'available');
    assert.equal(state('Deployment', obj(1, {}, { observedGeneration: 1 })), 'progressing');
    assert.equal(
      state('Deployment', obj(1, { replicas: 0 }, { observedGeneration: 1 })),
      'available',
    );
  });

  it('is stalled past its progress deadline, with the controller message', () => {
    const stuck = { ...done, availableReplicas: 0, conditions: [deadline] };
    const health = rolloutHealth(obj(3, { replicas: 2 }, stuck), 'Deployment');
    assert.equal(health.state, 'stalled');
    assert.match(health.detail, /progress deadline exceeded: ReplicaSet "web-5d" has timed out/);
    assert.ok(blocksBatches(health));
  });

  it('a deadline condition of a generation not yet observed is not read as stalled', () => {
    const stale = { ...done, conditions: [deadline] };
    assert.equal(state('Deployment', obj(4, { replicas: 2 }, stale)), 'progressing');
  });

  it('a paused Deployment (pause period) is not waited for', () => {
    const health = rolloutHealth(obj(4, { paused: true }, {}), 'Deployment');
    assert.equal(health.state, 'untracked');
    assert.equal(blocksBatches(health), false);
  });

  it('a missing status is progressing, never available', () => {
    assert.equal(state('Deployment', { metadata: { generation: 1 } }), 'progressing');
  });
});

describe('rolloutHealth: StatefulSet, DaemonSet', () => {
  it('a StatefulSet is available when its update revision is current and every replica available', () => {
    const status = {
      observedGeneration: 2,
      replicas: 3,
      updatedReplicas: 3,
      availableReplicas: 3,
      currentRevision: 'db-2',
      updateRevision: 'db-2',
    };
    assert.equal(state('StatefulSet', obj(2, { replicas: 3 }, status)), 'available');
    const rolling = { ...status, currentRevision: 'db-1', updatedReplicas: 1 };
    assert.equal(state('StatefulSet', obj(2, { replicas: 3 }, rolling)), 'progressing');
    const notReady = { ...status, availableReplicas: 2 };
    assert.equal(state('StatefulSet', obj(2, { replicas: 3 }, notReady)), 'progressing');
  });

  it('a StatefulSet with a partition waits for the replicas above it only', () => {
    const spec = { replicas: 3, updateStrategy: { rollingUpdate: { partition: 2 } } };
    const status = {
      observedGeneration: 2,
      updatedReplicas: 1,
      availableReplicas: 3,
      currentRevision: 'db-1',
      updateRevision: 'db-2',
    };
    assert.equal(state('StatefulSet', obj(2, spec, status)), 'available');
    assert.equal(
      state('StatefulSet', obj(2, spec, { ...status, updatedReplicas: 0 })),
      'progressing',
    );
  });

  it('OnDelete is not waited for: its pods change only when someone deletes them', () => {
    const spec = { updateStrategy: { type: 'OnDelete' } };
    assert.equal(state('StatefulSet', obj(2, spec, {})), 'untracked');
    assert.equal(state('DaemonSet', obj(2, spec, {})), 'untracked');
  });

  it('a DaemonSet is available when every scheduled pod is updated and available', () => {
    const status = {
      observedGeneration: 5,
      desiredNumberScheduled: 4,
      updatedNumberScheduled: 4,
      numberAvailable: 4,
    };
    assert.equal(state('DaemonSet', obj(5, {}, status)), 'available');
    assert.equal(
      state('DaemonSet', obj(5, {}, { ...status, updatedNumberScheduled: 3 })),
      'progressing',
    );
    assert.equal(state('DaemonSet', obj(5, {}, { ...status, numberAvailable: 3 })), 'progressing');
    assert.equal(state('DaemonSet', obj(6, {}, status)), 'progressing');
  });
});

describe('rolloutHealth: Argo Rollout, CronJob, Job', () => {
  it('reads the phase of a Rollout', () => {
    const at = (phase: string, extra: object = {}): string =>
      state('Rollout', obj(7, {}, { observedGeneration: '7', phase, ...extra }));
    assert.equal(at('Healthy'), 'available');
    assert.equal(at('Progressing'), 'progressing');
    assert.equal(at('Paused'), 'progressing', 'a canary waiting for promotion is still rolling');
    assert.equal(at('Degraded', { message: 'ProgressDeadlineExceeded' }), 'stalled');
    assert.equal(at('Progressing', { conditions: [deadline] }), 'stalled');
  });

  it('a Rollout whose observedGeneration is an old-style hash is judged by its phase', () => {
    const status = { observedGeneration: '5f8d6b9c4', phase: 'Healthy' };
    assert.equal(state('Rollout', obj(7, {}, status)), 'available');
    assert.equal(
      state('Rollout', obj(7, {}, { observedGeneration: '6', phase: 'Healthy' })),
      'progressing',
    );
  });

  it('a Rollout without a phase is judged by its replicas', () => {
    const status = { observedGeneration: '7', updatedReplicas: 2, availableReplicas: 2 };
    assert.equal(state('Rollout', obj(7, { replicas: 2 }, status)), 'available');
    assert.equal(state('Rollout', obj(7, { replicas: 3 }, status)), 'progressing');
  });

  it('CronJobs and Jobs have no rollout to wait for', () => {
    assert.equal(state('CronJob', obj(1, {}, {})), 'untracked');
    assert.equal(state('Job', obj(1, {}, {})), 'untracked');
  });
});
