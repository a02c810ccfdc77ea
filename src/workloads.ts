import {
  KubernetesObjectApi,
  type KubeConfig,
  type KubernetesObject,
  type V1PodTemplateSpec,
} from '@kubernetes/client-node';
import type { AnnotationNames } from './annotations.js';
import { paginate, statusOf } from './kube.js';
import type { Workload, WorkloadKind } from './model.js';
import { podSpecReferences } from './references.js';
import type { Scope } from './scope.js';

/** Where each kind lives in the API and where its pod template is. */
export const kindInfo: Record<WorkloadKind, { apiVersion: string; template: string[] }> = {
  Deployment: { apiVersion: 'apps/v1', template: ['spec', 'template'] },
  StatefulSet: { apiVersion: 'apps/v1', template: ['spec', 'template'] },
  DaemonSet: { apiVersion: 'apps/v1', template: ['spec', 'template'] },
  CronJob: { apiVersion: 'batch/v1', template: ['spec', 'jobTemplate', 'spec', 'template'] },
  Job: { apiVersion: 'batch/v1', template: ['spec', 'template'] },
  Rollout: { apiVersion: 'argoproj.io/v1alpha1', template: ['spec', 'template'] },
};

/** A workload object as the API returns it, read as plain data. */
export type WorkloadObject = KubernetesObject & {
  spec?: Record<string, unknown>;
  status?: { conditions?: { type?: string; status?: string }[] };
};

/** polling-reloader's record on a workload: the key it hashed with, when, and the hashes. */
export interface RecordValue {
  key: string;
  at?: string | undefined;
  hashes: Record<string, string>;
}

export function podTemplate(
  obj: WorkloadObject,
  kind: WorkloadKind,
): V1PodTemplateSpec | undefined {
  let at: unknown = obj;
  for (const step of kindInfo[kind].template)
    at = (at as Record<string, unknown> | undefined)?.[step];
  return at as V1PodTemplateSpec | undefined;
}

/** Reads the record where it is kept: the pod template, or the metadata (Argo restart). */
export function readRecord(
  obj: WorkloadObject,
  kind: WorkloadKind,
  names: AnnotationNames,
): RecordValue | undefined {
  // A Rollout switched to or from the restart strategy has one in each place: the newer counts.
  const records = [
    parseRecord(podTemplate(obj, kind)?.metadata?.annotations?.[names.record]),
    parseRecord(obj.metadata?.annotations?.[names.record]),
  ].filter((r): r is RecordValue => r !== undefined);
  return records.sort((a, b) => (b.at ?? '').localeCompare(a.at ?? ''))[0];
}

function parseRecord(raw: string | undefined): RecordValue | undefined {
  if (!raw) return undefined;
  try {
    const parsed = JSON.parse(raw) as Partial<RecordValue>;
    if (typeof parsed.key !== 'string' || typeof parsed.hashes !== 'object') return undefined;
    return { key: parsed.key, at: parsed.at, hashes: { ...parsed.hashes } };
  } catch {
    return undefined;
  }
}

/** Reduces a listed object to what decisions need; a record made with another key is not used. */
export function toWorkload(
  obj: WorkloadObject,
  kind: WorkloadKind,
  names: AnnotationNames,
  keyId: string,
): Workload | undefined {
  const meta = obj.metadata;
  if (!meta?.name || !meta.namespace) return undefined;
  const template = podTemplate(obj, kind);
  const record = readRecord(obj, kind, names);
  return {
    kind,
    namespace: meta.namespace,
    name: meta.name,
    annotations: reloaderAnnotations(names, template?.metadata?.annotations, meta.annotations),
    references: podSpecReferences(template?.spec),
    record: record?.key === keyId ? record.hashes : {},
    reloadedAt: record?.at,
    pausedAt: pausedBy(obj, names),
  };
}

/** The reloader's annotations only (not, say, a large last-applied-configuration); later wins. */
function reloaderAnnotations(
  names: AnnotationNames,
  ...layers: (Record<string, string> | undefined)[]
): Record<string, string> {
  const wanted = new Set(Object.values(names));
  const out: Record<string, string> = {};
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer ?? {})) if (wanted.has(key)) out[key] = value;
  }
  return out;
}

/** When polling-reloader paused this Deployment's rollout, if it did and it still is. */
function pausedBy(obj: WorkloadObject, names: AnnotationNames): string | undefined {
  const paused = (obj.spec as { paused?: boolean } | undefined)?.paused === true;
  return paused ? obj.metadata?.annotations?.[names.pausedAt] : undefined;
}

export function jobFinished(obj: WorkloadObject): boolean {
  return (obj.status?.conditions ?? []).some(
    (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
  );
}

/**
 * Lists the workloads of every kind in scope, page by page. Argo Rollouts are listed only where
 * the `rollouts.argoproj.io` API exists.
 */
export async function listWorkloads(
  kc: KubeConfig,
  scope: Scope,
  names: AnnotationNames,
  keyId: string,
): Promise<Workload[]> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  const out: Workload[] = [];
  const keep = (kind: WorkloadKind) => (obj: WorkloadObject) => {
    const workload = toWorkload(obj, kind, names, keyId);
    if (workload && scope.includes(workload.namespace)) out.push(workload);
  };
  for (const kind of scope.workloadKinds) {
    const { apiVersion } = kindInfo[kind];
    const list = (namespace: string | undefined, token: string | undefined) =>
      client.list<WorkloadObject>(
        apiVersion,
        kind,
        namespace,
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        250,
        token,
      );
    try {
      for (const namespace of scope.namespaces ?? [undefined]) {
        await paginate((token) => list(namespace, token), keep(kind));
      }
    } catch (err) {
      if (kind !== 'Rollout' || !isMissingApi(err)) throw err;
    }
  }
  return out;
}

function isMissingApi(err: unknown): boolean {
  return statusOf(err) === 404 || /Unrecognized API|resource .* not found/i.test(String(err));
}
