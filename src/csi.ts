import { createHash } from 'node:crypto';
import { sourceId, type Source } from './model.js';
import type { ObservedSource } from './state.js';

/**
 * `--enable-csi-integration`: SecretProviderClasses as sources, as Reloader has them.
 *
 * The Secrets Store CSI driver keeps one SecretProviderClassPodStatus (`secrets-store.csi.x-k8s.io/v1`)
 * per pod and SecretProviderClass it mounts, whose `status.objects` list the id and version of each
 * object mounted. When it rotates a mount, it updates that object. Reloader reacts to such an
 * update only (its controller drops creations and deletions, which are pods starting and ending):
 * it treats it as a change of the SecretProviderClass named in `status.secretProviderClassName`,
 * hashed from the pod status's objects (`GetSHAfromSecretProviderClassPodStatus` in its
 * internal/pkg/util/util.go), and rolls the workloads of the namespace that use that class.
 *
 * A poller sees the pod statuses, not their events. It keeps each pod status's hash in its state,
 * so that it tells an update (same uid, other content) from a new pod, and gives each
 * SecretProviderClass of a namespace one hash: the content its pod statuses were last updated to.
 * Pods started since (a rollout, a scale-up) show the content they mounted, and move nothing.
 */

/** The error when the flag is set and the cluster does not serve the API. */
export const csiMissing =
  '--enable-csi-integration: the cluster does not serve secretproviderclasspodstatuses.secrets-store.csi.x-k8s.io/v1: ' +
  "install the Secrets Store CSI driver's CRDs, or leave the flag out";

/** One SecretProviderClassPodStatus as a pass keeps it: identity, class, keyed hash. */
export interface PodStatus {
  namespace: string;
  name: string;
  uid: string;
  resourceVersion: string;
  /** `status.secretProviderClassName`: the source it is a view of. */
  secretProviderClass: string;
  /** Keyed hash of its content (see `podStatusContent`). */
  hash: string;
  /**
   * On a baseline, for a class a Reloader record names: Reloader's SHA1 of its content
   * (`reloaderPodStatusSha`), to compare with that record. In memory, for this pass only.
   */
  reloaderSha?: string | undefined;
}

/** A SecretProviderClassPodStatus as the API returns it, read as plain data. */
export interface PodStatusObject {
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
  status?: {
    secretProviderClassName?: string;
    podName?: string;
    objects?: { id?: string; version?: string }[] | null;
  };
}

/**
 * The content of a pod status that counts, in Reloader's words: each object as `id=version`, and
 * `SecretProviderClassName=<class>`, sorted and joined with `;`. Not secret: ids and versions.
 */
export function podStatusContent(status: PodStatusObject['status']): string {
  const values = (status?.objects ?? []).map((o) => `${o.id ?? ''}=${o.version ?? ''}`);
  values.push(`SecretProviderClassName=${status?.secretProviderClassName ?? ''}`);
  // As Go's sort.Strings: by UTF-8 bytes (JavaScript's own sort compares UTF-16 code units).
  return values
    .map((v) => Buffer.from(v))
    .sort((a, b) => Buffer.compare(a, b))
    .map((b) => b.toString())
    .join(';');
}

/** Reloader's SHA1 of a pod status (what it writes in `STAKATER_*_SECRETPROVIDERCLASS`). */
export function reloaderPodStatusSha(status: PodStatusObject['status']): string {
  return createHash('sha1').update(podStatusContent(status)).digest('hex');
}

/** `namespace/SecretProviderClassPodStatus/name`: how pod statuses are keyed in the state. */
export function podStatusId(p: { namespace: string; name: string }): string {
  return `${p.namespace}/SecretProviderClassPodStatus/${p.name}`;
}

/**
 * The SecretProviderClass sources of a pass, one per class and namespace that pod statuses name,
 * each with the hash of the content it has now:
 *
 * 1. the content its pod statuses were updated to since the state (same uid, other hash), when
 *    that differs from the class's hash in the state: the change Reloader acts on. When several
 *    pods were updated to different contents, the one most of them show (then the smallest hash);
 * 2. else the class's hash in the state, while a pod status still shows it;
 * 3. else (a class seen for the first time, or whose pods all went) the content most of its pod
 *    statuses show, then the smallest hash: a stable choice.
 */
export function secretProviderClassSources(
  podStatuses: PodStatus[],
  observed: {
    sources: Record<string, ObservedSource>;
    podStatuses: Record<string, ObservedSource>;
  },
): Source[] {
  const groups = new Map<string, { namespace: string; name: string; members: PodStatus[] }>();
  for (const p of podStatuses) {
    if (!p.secretProviderClass) continue;
    const key = `${p.namespace}/${p.secretProviderClass}`;
    const group = groups.get(key);
    if (group) group.members.push(p);
    else groups.set(key, { namespace: p.namespace, name: p.secretProviderClass, members: [p] });
  }
  const out: Source[] = [];
  for (const { namespace, name, members } of groups.values()) {
    const source = { kind: 'SecretProviderClass' as const, namespace, name };
    const before = observed.sources[sourceId(source)]?.hash;
    const updated = members.filter((p) => {
      const entry = observed.podStatuses[podStatusId(p)];
      return entry?.uid === p.uid && entry.hash !== p.hash && p.hash !== before;
    });
    const hash =
      updated.length > 0
        ? mostShown(updated)
        : before !== undefined && members.some((p) => p.hash === before)
          ? before
          : mostShown(members);
    out.push({ ...source, uid: '', resourceVersion: '', hash });
  }
  return out;
}

/** The hash most pod statuses show; among equals, the smallest. */
function mostShown(members: PodStatus[]): string {
  const counts = new Map<string, number>();
  for (const p of members) counts.set(p.hash, (counts.get(p.hash) ?? 0) + 1);
  let best = '';
  let most = 0;
  for (const [hash, count] of counts) {
    if (count > most || (count === most && hash < best)) {
      best = hash;
      most = count;
    }
  }
  return best;
}

/**
 * On a baseline: Reloader's SHA1 of each class's content (that of a pod status showing the class's
 * hash), for the classes whose pod statuses carry one (those Reloader records name), by source id.
 */
export function reloaderClassHashes(
  classes: Source[],
  podStatuses: PodStatus[],
): Map<string, string> {
  const byHash = new Map<string, string>();
  for (const p of podStatuses) {
    if (p.reloaderSha)
      byHash.set(`${p.namespace}/${p.secretProviderClass}/${p.hash}`, p.reloaderSha);
  }
  const out = new Map<string, string>();
  for (const c of classes) {
    const sha = byHash.get(`${c.namespace}/${c.name}/${c.hash}`);
    if (sha) out.set(sourceId(c), sha);
  }
  return out;
}

/**
 * The pod statuses' state entries after a pass: those listed, except that the pod statuses of a
 * class whose change stays pending keep their old entries (so that the next pass sees their update
 * again), and the entries of namespaces this pass did not list kept as they were.
 */
export function nextPodStatuses(
  listed: PodStatus[],
  observed: Record<string, ObservedSource>,
  { pending, isListed }: { pending: ReadonlySet<string>; isListed: (namespace: string) => boolean },
): Record<string, ObservedSource> {
  const next: Record<string, ObservedSource> = {};
  for (const p of listed) {
    const id = podStatusId(p);
    const before = observed[id];
    const classId = sourceId({
      namespace: p.namespace,
      kind: 'SecretProviderClass',
      name: p.secretProviderClass,
    });
    if (pending.has(classId)) {
      if (before) next[id] = before;
      continue;
    }
    const same = before?.uid === p.uid && before.resourceVersion === p.resourceVersion;
    next[id] =
      same && before.hash === p.hash
        ? before
        : { uid: p.uid, resourceVersion: p.resourceVersion, hash: p.hash };
  }
  for (const [id, entry] of Object.entries(observed)) {
    const namespace = id.split('/', 1)[0] ?? '';
    if (!(id in next) && !isListed(namespace)) next[id] = entry;
  }
  return next;
}
