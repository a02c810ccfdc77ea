import type { Reference, SourceKind } from './references.js';
import type { ReloaderRecord } from './reloader-records.js';
import type { RolloutHealth } from './rollout-health.js';

/** A ConfigMap or Secret as a pass keeps it: identity and keyed hash, never its data. */
export interface Source {
  kind: SourceKind;
  namespace: string;
  name: string;
  uid: string;
  resourceVersion: string;
  hash: string;
  /** The raw values of the reloader annotations it carries (ignore, match), if any. */
  ignore?: string | undefined;
  match?: string | undefined;
}

/** `namespace/Kind/name`: how sources are keyed in state and in plans. */
export function sourceId(s: { namespace: string; kind: SourceKind; name: string }): string {
  return `${s.namespace}/${s.kind}/${s.name}`;
}

export type ChangeType = 'updated' | 'created' | 'deleted';

/** A source whose content differs from the observed state. */
export interface Change {
  kind: SourceKind;
  namespace: string;
  name: string;
  type: ChangeType;
  /** The new keyed hash; `deleted` for a deleted source. */
  hash: string;
}

export const DELETED = 'deleted';

export const workloadKinds = [
  'Deployment',
  'StatefulSet',
  'DaemonSet',
  'CronJob',
  'Job',
  'Rollout',
] as const;
export type WorkloadKind = (typeof workloadKinds)[number];

/** A workload as a pass keeps it: what a decision needs, not the whole object. */
export interface Workload {
  kind: WorkloadKind;
  namespace: string;
  name: string;
  /** The object's uid when it was listed: the Events of its reload name it. */
  uid?: string | undefined;
  /** Reloader annotations from the pod template, overridden by those on the workload itself. */
  annotations: Record<string, string>;
  references: Reference[];
  /** Keyed hashes of the sources it was last rolled for, by source key (`Kind/name`). */
  record: Record<string, string>;
  /** When polling-reloader last rolled it (from its record), ISO 8601. */
  reloadedAt?: string | undefined;
  /** Deployments: when polling-reloader paused its rollout (the paused-at annotation). */
  pausedAt?: string | undefined;
  /**
   * The held-back label (`polling-reloader.io/held-back`): a batch held a reload of it back, and
   * this is the digest of the record it is owed (see `recordDigest`).
   */
  heldBack?: string | undefined;
  /** Where its rollout stands, read from its status when it was listed (`--wait-healthy`). */
  rollout?: RolloutHealth | undefined;
  /**
   * What Stakater Reloader left on it (its SHA1 hashes), when it carries no record of
   * polling-reloader's: once polling-reloader has reloaded a workload, its own record counts.
   */
  reloader?: ReloaderRecord | undefined;
}

export function workloadId(w: { kind: WorkloadKind; namespace: string; name: string }): string {
  return `${w.namespace}/${w.kind}/${w.name}`;
}
