import type { KubernetesObject, V1PodTemplateSpec } from '@kubernetes/client-node';
import { listAll, resourcePath, type Api, type ResourceType } from './api.js';
import type { AnnotationNames } from './annotations.js';
import { statusOf } from './errors.js';
import { mapLimit } from './map-limit.js';
import type { Workload, WorkloadKind } from './model.js';
import { podSpecReferences } from './references.js';
import { rolloutHealth } from './rollout-health.js';
import { readReloaderRecord } from './reloader-records.js';
import type { Scope } from './scope.js';

interface KindInfo {
  apiVersion: string;
  resource: ResourceType;
  template: string[];
}

function kind(group: string, version: string, plural: string, template: string[]): KindInfo {
  return { apiVersion: `${group}/${version}`, resource: { group, version, plural }, template };
}

const podTemplatePath = ['spec', 'template'];

/**
 * The label a batch puts on a workload whose reload it holds back: the digest of the record the
 * reload will write. A label, not an annotation: a Deployment's generation moves with its
 * annotations (they are copied to its ReplicaSets), not with its labels, so nothing rolls.
 */
export const heldBackLabel = 'polling-reloader.io/held-back';

/** Where each kind lives in the API and where its pod template is. */
export const kindInfo: Record<WorkloadKind, KindInfo> = {
  Deployment: kind('apps', 'v1', 'deployments', podTemplatePath),
  StatefulSet: kind('apps', 'v1', 'statefulsets', podTemplatePath),
  DaemonSet: kind('apps', 'v1', 'daemonsets', podTemplatePath),
  CronJob: kind('batch', 'v1', 'cronjobs', ['spec', 'jobTemplate', 'spec', 'template']),
  Job: kind('batch', 'v1', 'jobs', podTemplatePath),
  Rollout: kind('argoproj.io', 'v1alpha1', 'rollouts', podTemplatePath),
};

/** The API path of a workload kind's collection, or of one workload. */
export function workloadPath(kind: WorkloadKind, namespace?: string, name?: string): string {
  return resourcePath(kindInfo[kind].resource, namespace, name);
}

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
  const templateAnnotations = template?.metadata?.annotations;
  const ours = carriesRecord(names, templateAnnotations, meta.annotations);
  return {
    kind,
    namespace: meta.namespace,
    name: meta.name,
    uid: meta.uid,
    annotations: reloaderAnnotations(names, templateAnnotations, meta.annotations),
    references: podSpecReferences(template?.spec),
    record: record?.key === keyId ? record.hashes : {},
    reloadedAt: record?.at,
    pausedAt: pausedBy(obj, names),
    heldBack: meta.labels?.[heldBackLabel],
    rollout: rolloutHealth(obj, kind),
    reloader: ours ? undefined : readReloaderRecord(template, meta.namespace, names),
  };
}

/** Whether polling-reloader's record is on a workload, whatever its key (or if unreadable). */
function carriesRecord(
  names: AnnotationNames,
  ...places: (Record<string, string> | undefined)[]
): boolean {
  return places.some((a) => a?.[names.record] !== undefined);
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

/** A kind's lists of several namespaces go this many at a time (the client keeps 4 connections). */
const namespacesAtOnce = 4;

/**
 * Lists the workloads of every kind in scope, page by page: all of them (cluster-wide, or each
 * namespace of the scope), or those of `namespaces` only (namespaces in scope, as
 * `workloadNamespaces` gives them). The kinds one after another, so that a cluster-wide list holds
 * one page at a time; a kind's namespaces a few at once. Argo Rollouts are listed only where the
 * `rollouts.argoproj.io` API exists.
 */
export async function listWorkloads(
  api: Api,
  scope: Scope,
  names: AnnotationNames,
  keyId: string,
  namespaces?: readonly string[],
): Promise<Workload[]> {
  const where = namespaces ?? scope.namespaces ?? [undefined];
  const out: Workload[] = [];
  for (const kind of scope.workloadKinds) {
    const keep = (obj: WorkloadObject): Workload | undefined => {
      const workload = toWorkload(obj, kind, names, keyId);
      return workload && scope.includes(workload.namespace) ? workload : undefined;
    };
    let missing = false;
    const lists = await mapLimit(where, namespacesAtOnce, async (namespace) => {
      if (missing) return [];
      try {
        return await listAll(api, workloadPath(kind, namespace), { pageSize: 250 }, keep);
      } catch (err) {
        if (kind !== 'Rollout' || !isMissingApi(err)) throw err;
        missing = true;
        return [];
      }
    });
    for (const list of lists) out.push(...list);
  }
  return out;
}

function isMissingApi(err: unknown): boolean {
  return statusOf(err) === 404 || /Unrecognized API|resource .* not found/i.test(String(err));
}
