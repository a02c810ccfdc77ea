import type { WorkloadKind } from './model.js';

/**
 * Where a workload's rollout stands, as `--wait-healthy` reads it from the listed object:
 * - `available`: its current template is rolled out and available;
 * - `progressing`: not yet (the controller has not seen the new template, replicas are not all
 *   updated or not all available);
 * - `stalled`: it exceeded its progress deadline (a Deployment's or Rollout's condition
 *   `Progressing=False`, reason `ProgressDeadlineExceeded`; a degraded Rollout);
 * - `untracked`: nothing to wait for (a CronJob, a Job, an `OnDelete` update strategy, a
 *   Deployment whose rollout is paused).
 */
export type RolloutState = 'available' | 'progressing' | 'stalled' | 'untracked';

/** A rollout's state and, in words, why. */
export interface RolloutHealth {
  state: RolloutState;
  detail: string;
}

/** The parts of a workload object the health of its rollout is read from. */
export interface RolloutObject {
  metadata?: { generation?: number };
  spec?: Record<string, unknown>;
  status?: object;
}

interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}

/** The status fields read here, of every kind: all optional, all checked. */
interface Status {
  observedGeneration?: number | string;
  replicas?: number;
  updatedReplicas?: number;
  availableReplicas?: number;
  readyReplicas?: number;
  currentRevision?: string;
  updateRevision?: string;
  desiredNumberScheduled?: number;
  updatedNumberScheduled?: number;
  numberAvailable?: number;
  phase?: string;
  message?: string;
  conditions?: Condition[];
}

const available: RolloutHealth = { state: 'available', detail: 'available at its new revision' };

/** Whether a rollout in this state holds the next batch back. */
export function blocksBatches(health: RolloutHealth): boolean {
  return health.state === 'progressing' || health.state === 'stalled';
}

/** The health of a workload's rollout, from the object as listed (no extra request). Pure. */
export function rolloutHealth(obj: RolloutObject, kind: WorkloadKind): RolloutHealth {
  const status = (obj.status ?? {}) as Status;
  const spec = obj.spec ?? {};
  const generation = obj.metadata?.generation;
  switch (kind) {
    case 'Deployment':
      return deploymentHealth(generation, spec, status);
    case 'StatefulSet':
      return notRolling(generation, spec, status) ?? statefulSetHealth(spec, status);
    case 'DaemonSet':
      return notRolling(generation, spec, status) ?? daemonSetHealth(status);
    case 'Rollout':
      return argoRolloutHealth(generation, spec, status);
    case 'CronJob':
    case 'Job':
      return { state: 'untracked', detail: `a ${kind} has no rollout to wait for` };
  }
}

function progressing(detail: string): RolloutHealth {
  return { state: 'progressing', detail };
}

/** The controller has not yet seen the newest template: its status says nothing about it. */
function unobserved(generation: number | undefined, status: Status): RolloutHealth | undefined {
  const observed = Number(status.observedGeneration ?? 0);
  // An older Argo Rollouts wrote a hash there, not a number: it tells nothing.
  if (generation === undefined || Number.isNaN(observed) || observed >= generation) {
    return undefined;
  }
  return progressing(`its controller has not yet seen generation ${generation}`);
}

function deadlineExceeded(status: Status): RolloutHealth | undefined {
  const condition = (status.conditions ?? []).find(
    (c) =>
      c.type === 'Progressing' && c.status === 'False' && c.reason === 'ProgressDeadlineExceeded',
  );
  if (!condition) return undefined;
  return {
    state: 'stalled',
    detail: `progress deadline exceeded${condition.message ? `: ${condition.message}` : ''}`,
  };
}

function count(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}

/** `spec.replicas`, which the API defaults to 1. */
function desiredReplicas(spec: Record<string, unknown>): number {
  return typeof spec.replicas === 'number' ? spec.replicas : 1;
}

function onDelete(spec: Record<string, unknown>): boolean {
  return (spec.updateStrategy as { type?: string } | undefined)?.type === 'OnDelete';
}

/** A StatefulSet or DaemonSet not waited for (OnDelete), or whose controller is behind. */
function notRolling(
  generation: number | undefined,
  spec: Record<string, unknown>,
  status: Status,
): RolloutHealth | undefined {
  if (onDelete(spec)) return { state: 'untracked', detail: 'update strategy OnDelete' };
  return unobserved(generation, status);
}

/** Replicas updated and available: the checks every kind with replicas shares. */
function replicaHealth(desired: number, updated: number, ready: number): RolloutHealth {
  if (updated < desired) return progressing(`${updated} of ${desired} replicas updated`);
  if (ready < desired) return progressing(`${ready} of ${desired} replicas available`);
  return available;
}

function deploymentHealth(
  generation: number | undefined,
  spec: Record<string, unknown>,
  status: Status,
): RolloutHealth {
  if (spec.paused === true) {
    return { state: 'untracked', detail: 'its rollout is paused (spec.paused)' };
  }
  const notSeen = unobserved(generation, status);
  if (notSeen) return notSeen;
  const stalled = deadlineExceeded(status);
  if (stalled) return stalled;
  const desired = desiredReplicas(spec);
  const updated = count(status.updatedReplicas);
  const old = count(status.replicas) - updated;
  if (updated >= desired && old > 0) return progressing(`${old} old replicas still running`);
  return replicaHealth(desired, updated, count(status.availableReplicas));
}

function statefulSetHealth(spec: Record<string, unknown>, status: Status): RolloutHealth {
  const desired = desiredReplicas(spec);
  const rolling = (spec.updateStrategy as { rollingUpdate?: { partition?: number } } | undefined)
    ?.rollingUpdate;
  const partition = count(rolling?.partition);
  const ready = count(status.availableReplicas ?? status.readyReplicas);
  if (partition > 0)
    return replicaHealth(desired - partition, count(status.updatedReplicas), ready);
  if (status.updateRevision && status.currentRevision !== status.updateRevision) {
    return progressing(`${count(status.updatedReplicas)} of ${desired} replicas updated`);
  }
  return replicaHealth(desired, count(status.updatedReplicas), ready);
}

function daemonSetHealth(status: Status): RolloutHealth {
  const desired = count(status.desiredNumberScheduled);
  return replicaHealth(
    desired,
    count(status.updatedNumberScheduled),
    count(status.numberAvailable),
  );
}

/** An Argo Rollout: its phase says it (`Healthy`, `Progressing`, `Paused`, `Degraded`). */
function argoRolloutHealth(
  generation: number | undefined,
  spec: Record<string, unknown>,
  status: Status,
): RolloutHealth {
  const notSeen = unobserved(generation, status);
  if (notSeen) return notSeen;
  const stalled = deadlineExceeded(status);
  if (stalled) return stalled;
  const why = status.message ? `: ${status.message}` : '';
  switch (status.phase) {
    case 'Healthy':
      return available;
    case 'Degraded':
      return { state: 'stalled', detail: `degraded${why}` };
    case undefined:
      return replicaHealth(
        desiredReplicas(spec),
        count(status.updatedReplicas),
        count(status.availableReplicas),
      );
    default:
      return progressing(`phase ${status.phase}${why}`);
  }
}
