import { setTimeout as sleep } from 'node:timers/promises';
import type { Api } from './api.js';
import { message, statusOf } from './errors.js';
import { workloadId } from './model.js';
import {
  applyOperations,
  reloadOperations,
  type JsonPatchOp,
  type PatchContext,
} from './patches.js';
import type { Reload } from './plan.js';
import { jobFinished, workloadPath, type WorkloadObject } from './workloads.js';

/** What became of one planned reload. */
export type Outcome =
  | { status: 'patched' | 'recreated' | 'already-done' | 'finished-job'; ops: JsonPatchOp[] }
  | { status: 'failed'; error: string };

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
}

const defaultRetry: RetryPolicy = { attempts: 5, baseDelayMs: 200 };

/** Faults worth another try: conflicts, a failed resourceVersion test, throttling, server errors. */
function retryable(err: unknown): boolean {
  const status = statusOf(err);
  if (status === undefined) return true; // network: refused, reset, timed out
  return status === 409 || status === 422 || status === 429 || status >= 500;
}

/** Performs one planned reload; see `reloadApplier`. */
export type ApplyReload = (reload: Reload, ctx: PatchContext) => Promise<Outcome>;

const fieldManager = 'polling-reloader';

/** The outcome of a reload this instance may no longer perform. */
export const notActing: Outcome = {
  status: 'failed',
  error: 'not applied: this instance stopped acting (Lease lost or shutting down)',
};

/**
 * Makes the function that performs reloads. Each reload works on the object as it is now: read,
 * compute the patch, apply it, and on a conflict or a transient fault start over after a backoff.
 * It never throws: a failure is an outcome, so that one workload's fault leaves the others'
 * reloads going. `canAct` is asked between the read and every write: an instance that lost the
 * Lease (paused, cut off) writes nothing, and the resourceVersion test of the write guarantees
 * that what it read is still what it changes.
 */
export function reloadApplier(
  api: Api,
  canAct: () => boolean = () => true,
  retry: RetryPolicy = defaultRetry,
): ApplyReload {
  return (reload, ctx) => applyReload(api, { canAct, retry }, reload, ctx);
}

async function applyReload(
  api: Api,
  { canAct, retry }: { canAct: () => boolean; retry: RetryPolicy },
  reload: Reload,
  ctx: PatchContext,
): Promise<Outcome> {
  const { kind, namespace, name } = reload.workload;
  const path = workloadPath(kind, namespace, name);
  let last: unknown;
  for (let attempt = 0; attempt < retry.attempts; attempt++) {
    if (attempt > 0) await sleep(retry.baseDelayMs * 2 ** (attempt - 1));
    try {
      const obj = await api.request<WorkloadObject>({ path });
      if (kind === 'Job' && jobFinished(obj)) return { status: 'finished-job', ops: [] };
      const ops = reloadOperations(obj, reload, ctx);
      if (!ops) return { status: 'already-done', ops: [] };
      if (!canAct()) return notActing;
      if (kind === 'Job') {
        await recreateJob(api, obj, ops);
        return { status: 'recreated', ops };
      }
      // JSON Patch: its first operation tests the resourceVersion read above.
      await api.request({
        method: 'PATCH',
        path,
        query: { fieldManager },
        body: ops,
        contentType: 'application/json-patch+json',
      });
      return { status: 'patched', ops };
    } catch (err) {
      last = err;
      if (!retryable(err)) break;
    }
  }
  return { status: 'failed', error: `${workloadId(reload.workload)}: ${message(last)}` };
}

/**
 * A Job's template cannot change, so an unfinished Job is re-created with the same name and spec,
 * less the fields its controller generated.
 */
async function recreateJob(api: Api, obj: WorkloadObject, ops: JsonPatchOp[]): Promise<void> {
  const body = recreatedJob(obj, ops);
  const { name = '', namespace = '', uid, resourceVersion } = obj.metadata ?? {};
  await api.request({
    method: 'DELETE',
    path: workloadPath('Job', namespace, name),
    body: { propagationPolicy: 'Background', preconditions: { uid, resourceVersion } },
  });
  for (let attempt = 0; ; attempt++) {
    try {
      await api.request({
        method: 'POST',
        path: workloadPath('Job', namespace),
        query: { fieldManager },
        body,
      });
      return;
    } catch (err) {
      // The old Job is still going away: wait for its name to be free.
      if (statusOf(err) !== 409 || attempt >= 50) {
        throw new Error(`Job deleted but not re-created: ${message(err)}`, { cause: err });
      }
      await sleep(200);
    }
  }
}

const jobControllerLabels = [
  'controller-uid',
  'batch.kubernetes.io/controller-uid',
  'job-name',
  'batch.kubernetes.io/job-name',
];

interface JobShape {
  selector?: unknown;
  manualSelector?: boolean;
  template?: { metadata?: { labels?: Record<string, string> } };
}

/** The Job to create in place of `obj`: patched, less the fields its controller generated. */
export function recreatedJob(obj: WorkloadObject, ops: JsonPatchOp[]): WorkloadObject {
  const next = applyOperations(obj, ops);
  const spec = (next.spec ?? {}) as JobShape;
  const labels = { ...next.metadata?.labels };
  if (!spec.manualSelector) {
    delete spec.selector;
    for (const key of jobControllerLabels) {
      Reflect.deleteProperty(labels, key);
      if (spec.template?.metadata?.labels)
        Reflect.deleteProperty(spec.template.metadata.labels, key);
    }
  }
  const { name, namespace, annotations } = next.metadata ?? {};
  return {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: { name, namespace, labels, annotations },
    spec: spec as Record<string, unknown>,
  };
}
