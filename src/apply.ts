import { setTimeout as sleep } from 'node:timers/promises';
import {
  AppsV1Api,
  BatchV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
} from '@kubernetes/client-node';
import { message, statusOf } from './kube.js';
import { workloadId, type WorkloadKind } from './model.js';
import {
  applyOperations,
  reloadOperations,
  type JsonPatchOp,
  type PatchContext,
} from './patches.js';
import type { Reload } from './plan.js';
import { jobFinished, kindInfo, type WorkloadObject } from './workloads.js';

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

/**
 * Makes the function that performs reloads, with its API clients built once (the generic client
 * caches API discovery, so one per pass, not one per reload). Each reload works on the object as
 * it is now: read, compute the patch, apply it, and on a conflict or a transient fault start over
 * after a backoff. It never throws: a failure is an outcome, so that one workload's fault leaves
 * the others' reloads going.
 */
export function reloadApplier(kc: KubeConfig, retry: RetryPolicy = defaultRetry): ApplyReload {
  const client = KubernetesObjectApi.makeApiClient(kc);
  const patch = jsonPatcher(kc);
  return (reload, ctx) => applyReload(client, patch, retry, reload, ctx);
}

async function applyReload(
  client: KubernetesObjectApi,
  patch: Patcher,
  retry: RetryPolicy,
  reload: Reload,
  ctx: PatchContext,
): Promise<Outcome> {
  const { kind, namespace, name } = reload.workload;
  const header = { apiVersion: kindInfo[kind].apiVersion, kind, metadata: { name, namespace } };
  let last: unknown;
  for (let attempt = 0; attempt < retry.attempts; attempt++) {
    if (attempt > 0) await sleep(retry.baseDelayMs * 2 ** (attempt - 1));
    try {
      const obj = await client.read<WorkloadObject>(header);
      if (kind === 'Job' && jobFinished(obj)) return { status: 'finished-job', ops: [] };
      const ops = reloadOperations(obj, reload, ctx);
      if (!ops) return { status: 'already-done', ops: [] };
      if (kind === 'Job') {
        await recreateJob(client, obj, ops);
        return { status: 'recreated', ops };
      }
      await patch(kind, namespace, name, ops);
      return { status: 'patched', ops };
    } catch (err) {
      last = err;
      if (!retryable(err)) break;
    }
  }
  return { status: 'failed', error: `${workloadId(reload.workload)}: ${message(last)}` };
}

type Patcher = (
  kind: WorkloadKind,
  namespace: string,
  name: string,
  body: JsonPatchOp[],
) => Promise<unknown>;

/** JSON Patch by kind; the generic object client sends its object as the body, so typed calls. */
function jsonPatcher(kc: KubeConfig): Patcher {
  const apps = kc.makeApiClient(AppsV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const json = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
  const fieldManager = 'polling-reloader';
  return (kind, namespace, name, body) => {
    const params = { name, namespace, body, fieldManager };
    switch (kind) {
      case 'Deployment':
        return apps.patchNamespacedDeployment(params, json);
      case 'StatefulSet':
        return apps.patchNamespacedStatefulSet(params, json);
      case 'DaemonSet':
        return apps.patchNamespacedDaemonSet(params, json);
      case 'CronJob':
        return batch.patchNamespacedCronJob(params, json);
      case 'Job':
        return batch.patchNamespacedJob(params, json);
      case 'Rollout':
        return custom.patchNamespacedCustomObject(
          { ...params, group: 'argoproj.io', version: 'v1alpha1', plural: 'rollouts' },
          json,
        );
    }
  };
}

/**
 * A Job's template cannot change, so an unfinished Job is re-created with the same name and spec,
 * less the fields its controller generated.
 */
async function recreateJob(
  client: KubernetesObjectApi,
  obj: WorkloadObject,
  ops: JsonPatchOp[],
): Promise<void> {
  const body = recreatedJob(obj, ops);
  const preconditions = { uid: obj.metadata?.uid, resourceVersion: obj.metadata?.resourceVersion };
  await client.delete(obj, undefined, undefined, undefined, undefined, 'Background', {
    preconditions,
  });
  for (let attempt = 0; ; attempt++) {
    try {
      await client.create(body, undefined, undefined, 'polling-reloader');
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
