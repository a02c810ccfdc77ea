import { setTimeout as sleep } from 'node:timers/promises';
import { readOptional, transient, type Api } from './api.js';
import { statusOf } from './errors.js';
import { jobFinished, workloadPath, type WorkloadObject } from './workloads.js';

/**
 * A CronJob knows its running Jobs by `status.active`, which only its controller fills, and only
 * with the Jobs it started itself: a Job re-created by a reload is not listed (the controller just
 * warns `UnexpectedJob`), while the Job it replaces leaves the list once deleted. With
 * `concurrencyPolicy: Forbid` the CronJob would then start a second Job beside it. So the
 * re-created Job is put in the list in place of the one it replaces, as the controller would.
 */

/** A Job as `status.active` refers to it (the controller's ObjectReference). */
export interface JobReference {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  resourceVersion?: string;
}

interface OwnerReference {
  apiVersion?: string;
  kind?: string;
  name?: string;
  uid?: string;
  controller?: boolean;
}

type CronJobObject = WorkloadObject & {
  status?: { active?: JobReference[] | null };
};

/** The CronJob that controls a Job, from the Job's ownerReferences. */
export function controllingCronJob(job: WorkloadObject): { name: string; uid: string } | undefined {
  const refs = (job.metadata?.ownerReferences ?? []) as OwnerReference[];
  const owner = refs.find(
    (r) => r.controller === true && r.kind === 'CronJob' && r.apiVersion?.startsWith('batch/'),
  );
  return owner?.name && owner.uid ? { name: owner.name, uid: owner.uid } : undefined;
}

/**
 * `status.active` with `job` in place of the Job whose uid was `replaced`; undefined when the list
 * already says so (nothing to write).
 */
export function activeWith(
  active: readonly JobReference[],
  replaced: string,
  job: WorkloadObject,
): JobReference[] | undefined {
  const { name, namespace, uid, resourceVersion } = job.metadata ?? {};
  const listed = active.some((r) => r.uid === uid);
  if (listed && !active.some((r) => r.uid === replaced)) return undefined;
  const others = active.filter((r) => r.uid !== replaced && r.uid !== uid);
  return [
    ...others,
    { kind: 'Job', namespace, name, uid, apiVersion: 'batch/v1', resourceVersion },
  ];
}

export interface TrackRetry {
  attempts: number;
  baseDelayMs: number;
}

/**
 * Lists the Job `namespace/name` (as it is now) in its CronJob's `status.active` in place of the
 * Job of uid `replaced`. Nothing to do when the Job is not controlled by a CronJob (that still
 * exists), is finished, or is still the one replaced. A conflict with another writer of the status
 * (the controller) or a transient fault is retried on fresh reads, with backoff; the last failure
 * is thrown.
 */
export async function trackInCronJob(
  api: Api,
  { namespace, name, replaced }: { namespace: string; name: string; replaced: string },
  retry: TrackRetry = { attempts: 5, baseDelayMs: 200 },
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await trackOnce(api, namespace, name, replaced);
      return;
    } catch (err) {
      if (attempt >= retry.attempts || !(statusOf(err) === 409 || transient(err))) throw err;
      await sleep(retry.baseDelayMs * 2 ** (attempt - 1));
    }
  }
}

async function trackOnce(
  api: Api,
  namespace: string,
  name: string,
  replaced: string,
): Promise<void> {
  const job = await readOptional<WorkloadObject>(api, workloadPath('Job', namespace, name));
  if (!job || job.metadata?.uid === replaced || jobFinished(job)) return;
  const owner = controllingCronJob(job);
  if (!owner) return;
  const path = workloadPath('CronJob', namespace, owner.name);
  const cronJob = await readOptional<CronJobObject>(api, path);
  if (cronJob?.metadata?.uid !== owner.uid) return;
  const active = activeWith(cronJob.status?.active ?? [], replaced, job);
  if (!active) return;
  await api.request({
    method: 'PATCH',
    path: `${path}/status`,
    // The resourceVersion read makes the write conditional (a list changed meanwhile, or this very
    // write sent again, is a 409 and a fresh read): sending it again is safe.
    body: { metadata: { resourceVersion: cronJob.metadata.resourceVersion }, status: { active } },
    contentType: 'application/merge-patch+json',
    idempotent: true,
  });
}
