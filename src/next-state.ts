import type { Outcome } from './apply.js';
import { heldSinceNext, nextWaits, type Batch, type BatchOptions } from './batches.js';
import { nextPodStatuses } from './csi.js';
import { sourceId, workloadId, type Source, type Workload } from './model.js';
import type { Reload } from './plan.js';
import { listsPodStatuses, listsWorkload, type Scope } from './scope.js';
import type { ObservedSource, StateData } from './state.js';
import type { Observed } from './observe.js';

/**
 * The state to persist: what was listed, except that a source whose reload failed keeps its old
 * entry (or stays absent, or stays present if deleted), so the next pass sees the change again.
 * The workloads that did roll hold the new hash in their record, so they are not rolled twice.
 * A reload a batch held back keeps the change that triggered it pending in the same way; one that
 * the workload itself triggered (its outdated record, its held-back label) needs nothing kept: the
 * next pass, which lists workloads while reloads are held back, sees it again on the workload.
 */
export function nextState(
  keyId: string,
  now: Date,
  sources: Source[],
  observed: Record<string, ObservedSource>,
  {
    failed = [],
    heldBack = [],
    failedPosts = [],
  }: { failed?: Reload[]; heldBack?: Reload[]; failedPosts?: string[] } = {},
): { data: StateData; pending: string[] } {
  const pending = pendingSources(failed, heldBack, failedPosts);
  // A steady pass keeps the observed entries themselves: no record of 20k entries built anew
  // (its inserts were a tenth of the pass's own work), and nothing left for carryOver or sameState.
  if (pending.size === 0 && listedAsObserved(sources, observed)) {
    return {
      data: { version: 1, keyId, savedAt: now.toISOString(), sources: observed },
      pending: [],
    };
  }
  const next: Record<string, ObservedSource> = {};
  for (const s of sources) {
    const id = sourceId(s);
    const before = observed[id];
    // An entry that still says what was listed is kept as it is: a steady pass makes none anew.
    next[id] = before && sameEntry(before, s) ? before : entryOf(s);
  }
  for (const id of pending) {
    const before = observed[id];
    if (before) next[id] = before;
    else Reflect.deleteProperty(next, id);
  }
  return {
    data: { version: 1, keyId, savedAt: now.toISOString(), sources: next },
    pending: [...pending],
  };
}

/** The sources whose change stays pending: see `nextState`. */
function pendingSources(failed: Reload[], heldBack: Reload[], failedPosts: string[]): Set<string> {
  const workloadTriggered = new Set(['outdated', 'held-back', 'reloader-outdated']);
  const changeTriggered = (r: Reload): Reload => ({
    ...r,
    triggers: r.triggers.filter((t) => !workloadTriggered.has(t.reason)),
  });
  const pending = new Set(failedPosts);
  for (const reload of [...failed, ...heldBack.map(changeTriggered)]) {
    for (const t of reload.triggers) {
      pending.add(sourceId({ namespace: reload.workload.namespace, kind: t.kind, name: t.name }));
    }
  }
  return pending;
}

/**
 * Whether the listing says exactly what the observed state says: an entry for each source listed
 * (their ids are unique), each the same, and no other entry.
 */
function listedAsObserved(sources: Source[], observed: Record<string, ObservedSource>): boolean {
  let count = 0;
  for (const id in observed) if (Object.hasOwn(observed, id)) count++;
  if (count !== sources.length) return false;
  return sources.every((s) => {
    const before = observed[sourceId(s)];
    return before !== undefined && sameEntry(before, s);
  });
}

function entryOf(s: Source): ObservedSource {
  return { uid: s.uid, resourceVersion: s.resourceVersion, hash: s.hash };
}

/** Keeps the entries this pass did not list (outside its scope) as they were. */
export function carryOver(
  next: StateData,
  observed: Record<string, ObservedSource>,
  listed: (id: string) => boolean,
): void {
  if (next.sources === observed) return; // every entry is there already
  for (const id of Object.keys(observed)) {
    const entry = observed[id];
    if (entry && !(id in next.sources) && !listed(id)) next.sources[id] = entry;
  }
}

/** Whether two states say the same (their times aside). */
export function sameState(a: StateData, b: StateData): boolean {
  // Everything but the entries is small: compared as JSON. The entries, one by one.
  const rest = (s: StateData): string =>
    JSON.stringify({ ...s, sources: 0, podStatuses: 0, savedAt: 0 });
  if (rest(a) !== rest(b)) return false;
  return sameEntries(a.sources, b.sources) && sameEntries(a.podStatuses, b.podStatuses);
}

function sameEntries(
  a: Record<string, ObservedSource> = {},
  b: Record<string, ObservedSource> = {},
): boolean {
  if (a === b) return true;
  const ids = Object.keys(b);
  if (ids.length !== Object.keys(a).length) return false;
  return ids.every((id) => {
    const x = a[id];
    const y = b[id];
    return x === y || (x !== undefined && y !== undefined && sameEntry(x, y));
  });
}

function sameEntry(x: ObservedSource, y: ObservedSource): boolean {
  return x.hash === y.hash && x.uid === y.uid && x.resourceVersion === y.resourceVersion;
}

/** Deployments held paused by a pause period, so that a later pass lists workloads to resume them. */
export function pausedIds(workloads: Workload[], reloads: Reload[]): string[] | undefined {
  const ids = new Set(workloads.filter((w) => w.pausedAt).map(workloadId));
  for (const r of reloads) if (r.pause) ids.add(workloadId(r.workload));
  return ids.size > 0 ? [...ids].sort() : undefined;
}

/**
 * The reloads held back, and since when: those of this pass, and those of the state outside this
 * pass's scope (a run on part of the cluster leaves the rest as it was).
 */
export function heldToKeep(
  batch: Batch,
  now: Date,
  { previous, scope }: { previous: ReadonlyMap<string, string>; scope: Scope },
): Record<string, string> | undefined {
  const held = heldSinceNext(batch.held, now);
  for (const [id, since] of previous) if (!listsWorkload(scope, id)) held[id] = since;
  return Object.keys(held).length > 0 ? held : undefined;
}

/**
 * The workloads the next batch waits for: those still blocking, those rolled now, and those of
 * the state outside this pass's scope (a run on part of the cluster cannot see them).
 */
export function waitsToKeep(
  batch: Batch,
  outcomes: { reload: Reload; outcome: Outcome }[],
  options: BatchOptions,
  { previous, scope }: { previous: string[]; scope: Scope },
): string[] | undefined {
  const rolled = outcomes
    .filter((o) => o.outcome.status === 'patched' || o.outcome.status === 'recreated')
    .map((o) => o.reload);
  const outside = options.waitHealthy ? previous.filter((id) => !listsWorkload(scope, id)) : [];
  const ids = [...new Set([...nextWaits(batch, rolled, options), ...outside])].sort();
  return ids.length > 0 ? ids : undefined;
}

/**
 * The pod statuses' entries to persist (`--enable-csi-integration`; see csi.ts): without the flag,
 * those of the state as they were.
 */
export function podStatusesToKeep(
  { previous, podStatuses, scope }: Pick<Observed, 'previous' | 'podStatuses' | 'scope'>,
  pending: ReadonlySet<string>,
): Record<string, ObservedSource> | undefined {
  const observed = previous?.podStatuses ?? {};
  const next = podStatuses
    ? nextPodStatuses(podStatuses, observed, {
        pending,
        isListed: (namespace) => listsPodStatuses(scope, namespace),
      })
    : observed;
  return Object.keys(next).length > 0 ? next : undefined;
}
