import { createHash } from 'node:crypto';
import type { Api } from './api.js';
import { statusOf } from './errors.js';
import { applyOperations, type JsonPatchOp } from './patches.js';
import { workloadPath, type WorkloadObject } from './workloads.js';

/** The annotation `kubectl create job --from=cronjob/…` and Reloader put on a Job started by hand. */
export const instantiateAnnotation = 'cronjob.kubernetes.io/instantiate';

interface JobTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
}

/** Whether a CronJob is suspended: no Job is started from it now (Reloader would start one). */
export function cronJobSuspended(cronJob: WorkloadObject): boolean {
  return (cronJob.spec as { suspend?: boolean } | undefined)?.suspend === true;
}

/**
 * The Job to start from a CronJob being reloaded with `ops`, built as Reloader builds it: the job
 * template as it is after the reload (labels, annotations plus `cronjob.kubernetes.io/instantiate:
 * manual`, spec), owned by the CronJob as its controller. Reloader names it with
 * `generateName: <cronjob>-`; here the suffix is derived from the CronJob as it was read (uid and
 * resourceVersion) and the reload's triggers (keyed hashes), so that a reload retried after a
 * crash finds the Job it started instead of starting a second one.
 */
export function jobFromCronJob(
  cronJob: WorkloadObject,
  ops: JsonPatchOp[],
  triggers: readonly { kind: string; name: string; hash: string }[],
): WorkloadObject {
  const { name = '', namespace = '', uid = '', resourceVersion = '' } = cronJob.metadata ?? {};
  const reloaded = applyOperations(cronJob, ops);
  const template = ((reloaded.spec ?? {}) as { jobTemplate?: JobTemplate }).jobTemplate ?? {};
  const suffix = createHash('sha256')
    .update(JSON.stringify([uid, resourceVersion, triggers.map((t) => [t.kind, t.name, t.hash])]))
    .digest('hex')
    .slice(0, 10);
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      // A CronJob's name has at most 52 characters: this one at most 63, as a Job's must.
      name: `${name}-${suffix}`,
      namespace,
      annotations: { [instantiateAnnotation]: 'manual', ...template.metadata?.annotations },
      labels: template.metadata?.labels,
      ownerReferences: [
        {
          apiVersion: 'batch/v1',
          kind: 'CronJob',
          name,
          uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: template.spec ?? {},
  };
}

/** Creates the Job; one that already exists (the same reload, retried) counts as started. */
export async function startJob(api: Api, job: WorkloadObject): Promise<void> {
  try {
    await api.request({
      method: 'POST',
      path: workloadPath('Job', job.metadata?.namespace),
      query: { fieldManager: 'polling-reloader' },
      body: job,
      // Its name is fixed: a second create finds the first (409).
      idempotent: true,
    });
  } catch (err) {
    if (statusOf(err) !== 409) throw err;
  }
}
