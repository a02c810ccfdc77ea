import { setTimeout as sleep } from 'node:timers/promises';
import type { Api } from './api.js';
import { cronJobSuspended, jobFromCronJob, startJob } from './cronjob-run.js';
import { message, statusOf } from './errors.js';
import {
  dropStash,
  ensureJob,
  notRecreated,
  trackStashed,
  writeStash,
  type JobStash,
} from './job-stash.js';
import { workloadId } from './model.js';
import {
  applyOperations,
  markOperations,
  reloadOperations,
  type JsonPatchOp,
  type PatchContext,
} from './patches.js';
import type { Reload } from './plan.js';
import { jobFinished, workloadPath, type WorkloadObject } from './workloads.js';

/** What became of one planned reload. */
export type Outcome =
  | {
      status: 'patched' | 'recreated' | 'already-done' | 'finished-job';
      ops: JsonPatchOp[];
      /** The Job started from a reloaded CronJob (`--run-cronjobs-now`). */
      job?: string;
    }
  | { status: 'failed'; error: string };

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
}

const defaultRetry: RetryPolicy = { attempts: 5, baseDelayMs: 200 };

/** Faults worth another try: conflicts, a failed resourceVersion test, throttling, server errors. */
function retryable(err: unknown): boolean {
  if (err instanceof JobNotRecreated || err instanceof JobNotTracked) return false;
  const status = statusOf(err);
  if (status === undefined) return true; // network: refused, reset, timed out
  return status === 409 || status === 422 || status === 429 || status >= 500;
}

/** What a reload is done with: the patch's context, and where a Job is kept while re-created. */
export interface ApplyContext extends PatchContext {
  /** The reloader's own namespace (`--lease-namespace`): see src/job-stash.ts. */
  stashNamespace: string;
  /** Start a Job from each CronJob reloaded, as Reloader does (`--run-cronjobs-now`). */
  runCronJobsNow?: boolean;
}

/** Performs one planned reload; see `reloadApplier`. */
export type ApplyReload = (reload: Reload, ctx: ApplyContext) => Promise<Outcome>;

/** A Job was deleted and not re-created: no retry (its name is free, a read finds nothing). */
class JobNotRecreated extends Error {
  override name = 'JobNotRecreated';
}

/**
 * A re-created Job its CronJob does not list as active yet: no retry (a fresh read finds the Job
 * reloaded and would call it done); its stash stays, and a later pass lists it.
 */
class JobNotTracked extends Error {
  override name = 'JobNotTracked';
}

/** A finished Job, or one being deleted (by its owner or a person): not brought back. */
function leftAlone(obj: WorkloadObject): boolean {
  return jobFinished(obj) || obj.metadata?.deletionTimestamp !== undefined;
}

const fieldManager = 'polling-reloader';

/** The outcome of a reload this instance may no longer perform. */
export const notActing: Outcome & { status: 'failed' } = {
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

/**
 * Runs one attempt after another (each on a fresh read) until one ends, a fault is not worth
 * another try, or the attempts are spent: then the failure is the outcome.
 */
async function withRetries(
  retry: RetryPolicy,
  reload: Reload,
  attempt: () => Promise<Outcome>,
): Promise<Outcome> {
  let last: unknown;
  for (let i = 0; i < retry.attempts; i++) {
    if (i > 0) await sleep(retry.baseDelayMs * 2 ** (i - 1));
    try {
      return await attempt();
    } catch (err) {
      last = err;
      if (!retryable(err)) break;
    }
  }
  return { status: 'failed', error: `${workloadId(reload.workload)}: ${message(last)}` };
}

/** JSON Patch: its first operation tests the resourceVersion the operations were made from. */
async function patch(api: Api, path: string, ops: JsonPatchOp[]): Promise<void> {
  await api.request({
    method: 'PATCH',
    path,
    query: { fieldManager },
    body: ops,
    contentType: 'application/json-patch+json',
  });
}

async function applyReload(
  api: Api,
  { canAct, retry }: { canAct: () => boolean; retry: RetryPolicy },
  reload: Reload,
  ctx: ApplyContext,
): Promise<Outcome> {
  const { kind, namespace, name } = reload.workload;
  const path = workloadPath(kind, namespace, name);
  // A Job started from a CronJob in an attempt that then failed is not started again.
  const started: { job?: string | undefined } = {};
  return withRetries(retry, reload, async () => {
    const obj = await api.request<WorkloadObject>({ path });
    if (kind === 'Job' && leftAlone(obj)) return { status: 'finished-job', ops: [] };
    const ops = reloadOperations(obj, reload, ctx);
    if (!ops) return { status: 'already-done', ops: [] };
    if (!canAct()) return notActing;
    if (kind === 'Job') {
      const done = await recreateJob(api, { ctx, canAct, reload }, obj, ops);
      return done ? { status: 'recreated', ops } : notActing;
    }
    return patchWorkload(api, { path, obj, ops, reload, ctx }, started);
  });
}

/**
 * Makes the function that labels a reload a batch holds back (see `markOperations`): read, then
 * patch the metadata, retried as reloads are and fenced by `canAct` in the same way. Its outcome
 * is `patched` (labelled), `already-done` (the label or the record already says it) or `failed`.
 */
export function markApplier(
  api: Api,
  canAct: () => boolean = () => true,
  retry: RetryPolicy = defaultRetry,
): (reload: Reload, ctx: PatchContext) => Promise<Outcome> {
  return (reload, ctx) => {
    const { kind, namespace, name } = reload.workload;
    const path = workloadPath(kind, namespace, name);
    return withRetries(retry, reload, async () => {
      const obj = await api.request<WorkloadObject>({ path });
      const ops = markOperations(obj, reload, ctx);
      if (!ops) return { status: 'already-done', ops: [] };
      if (!canAct()) return notActing;
      await patch(api, path, ops);
      return { status: 'patched', ops };
    });
  };
}

/** Patches a workload (a CronJob: after starting a Job from it, when asked to). */
async function patchWorkload(
  api: Api,
  { path, obj, ops, reload, ctx }: PatchTarget,
  started: { job?: string | undefined },
): Promise<Outcome> {
  if (reload.workload.kind === 'CronJob')
    started.job ??= await startNow(api, obj, ops, { reload, ctx });
  await patch(api, path, ops);
  return { status: 'patched', ops, ...(started.job !== undefined && { job: started.job }) };
}

interface PatchTarget {
  path: string;
  obj: WorkloadObject;
  ops: JsonPatchOp[];
  reload: Reload;
  ctx: ApplyContext;
}

/**
 * With `--run-cronjobs-now`, starts a Job from the CronJob as it is about to be reloaded (unless it
 * is suspended), before the patch: a crash between the two makes the next pass retry the reload,
 * which finds the Job started (its name derives from the reload) instead of losing it. The name of
 * the Job, or undefined when none is started.
 */
async function startNow(
  api: Api,
  cronJob: WorkloadObject,
  ops: JsonPatchOp[],
  { reload, ctx }: { reload: Reload; ctx: ApplyContext },
): Promise<string | undefined> {
  if (!ctx.runCronJobsNow || cronJobSuspended(cronJob)) return undefined;
  const job = jobFromCronJob(cronJob, ops, reload.triggers);
  await startJob(api, job);
  return job.metadata?.name;
}

/**
 * A Job's template cannot change, so an unfinished Job is re-created with the same name and spec,
 * less the fields its controller generated, and takes the old one's place in its CronJob's
 * `status.active` (src/cronjob-active.ts). The Job to create is stashed first (src/job-stash.ts):
 * whatever fails after the delete, a later pass creates it (and lists it). False: not done, this instance stopped
 * acting (nothing deleted).
 */
async function recreateJob(
  api: Api,
  { ctx, canAct, reload }: { ctx: ApplyContext; canAct: () => boolean; reload: Reload },
  obj: WorkloadObject,
  ops: JsonPatchOp[],
): Promise<boolean> {
  const body = recreatedJob(obj, ops);
  const stash = await writeStash(api, ctx.stashNamespace, obj, body, reload.triggers);
  if (!canAct()) {
    await dropStash(api, stash).catch(() => undefined);
    return false;
  }
  await deleteJob(api, obj, stash);
  try {
    await ensureJob(api, stash);
  } catch (err) {
    throw new JobNotRecreated(notRecreated(stash, err));
  }
  try {
    await trackStashed(api, stash);
  } catch (err) {
    throw new JobNotTracked(message(err));
  }
  // The Job exists: a stash that cannot be dropped now is dropped by the next pass.
  await dropStash(api, stash).catch(() => undefined);
  return true;
}

/**
 * Deletes the Job as it was read (uid and resourceVersion preconditions). A refusal drops the
 * stash and is thrown as it is (a conflict is retried on a fresh read); a delete whose fate is
 * unknown (no answer, a server error) keeps it, and a later pass, which sees what became of the
 * Job, creates it or drops the stash.
 */
async function deleteJob(api: Api, obj: WorkloadObject, stash: JobStash): Promise<void> {
  const { name = '', namespace = '', uid, resourceVersion } = obj.metadata ?? {};
  try {
    await api.request({
      method: 'DELETE',
      path: workloadPath('Job', namespace, name),
      body: { propagationPolicy: 'Background', preconditions: { uid, resourceVersion } },
    });
  } catch (err) {
    const status = statusOf(err);
    if (status === undefined || status >= 500) {
      throw new JobNotRecreated(
        `the delete of the Job got no clear answer: ${message(err)} (kept in Secret ` +
          `${stash.secretNamespace}/${stash.secretName}: a later pass creates it if it is gone)`,
      );
    }
    await dropStash(api, stash).catch(() => undefined);
    throw err;
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
  const { name, namespace, annotations, ownerReferences } = next.metadata ?? {};
  return {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    // The owner (a CronJob, say) still exists: it keeps owning the Job (garbage collection,
    // history limits).
    metadata: { name, namespace, labels, annotations, ...(ownerReferences && { ownerReferences }) },
    spec: spec as Record<string, unknown>,
  };
}
