import type { Api, ApiStats } from './api.js';
import { message } from './errors.js';
import { notActing, reloadApplier, type ApplyContext, type Outcome } from './apply.js';
import { detectChanges } from './changes.js';
import { loadHashKey } from './hash-key.js';
import { Hasher } from './hashing.js';
import {
  sourceId,
  workloadId,
  type Change,
  type Source,
  type Workload,
  type WorkloadKind,
} from './model.js';
import { restoreStashedJobs, stashPrefix } from './job-stash.js';
import type { ReloadStrategy } from './patches.js';
import { planPass, type Plan, type PlanOptions, type Reload } from './plan.js';
import { listsEntry, resolveScope, type Scope, type ScopeOptions } from './scope.js';
import { listSources } from './sources.js';
import type { ObservedSource, StateData, StateStore } from './state.js';
import { listWorkloads } from './workloads.js';

export interface PassOptions {
  scope: ScopeOptions;
  plan: PlanOptions;
  strategy: ReloadStrategy;
  dryRun: boolean;
  hashKey: { namespace: string; name: string };
}

export interface PassDeps {
  api: Api;
  store: StateStore;
  now: () => Date;
  /**
   * Asked before each patch: false once this instance may no longer act (it lost the Lease, or it
   * is shutting down). The reloads not yet done then stay pending for the next pass.
   */
  canAct?: () => boolean;
  /**
   * Asked before the state is written: false once this instance may no longer write anything (it
   * lost the Lease), so that a paused former holder cannot put back an older state.
   */
  holdsLease?: () => boolean;
}

export interface PassReport {
  /** No usable state: this pass recorded a baseline (and rolled only provably outdated workloads). */
  baseline: boolean;
  /** Why the state was not usable, when it existed. */
  stateProblem?: string | undefined;
  sources: number;
  /** Workloads listed; undefined when the pass had no reason to list them (nothing changed). */
  workloads: number | undefined;
  /** The workloads listed, by kind (empty when none were listed). */
  workloadsByKind: Partial<Record<WorkloadKind, number>>;
  /** Whether the state was written (it is not when nothing in it changed). */
  saved: boolean;
  /** Why the state could not be written: its changes are seen again by the next pass. */
  saveError?: string | undefined;
  changes: Change[];
  plan: Plan;
  outcomes: { reload: Reload; outcome: Outcome }[];
  /** Sources whose change stays pending because a reload it triggered failed. */
  pending: string[];
  /** What this pass asked of the API server. */
  api: ApiStats;
}

/** One pass (SPEC §1): list, compare, decide, patch each triggered workload once, persist. */
export async function runPass(deps: PassDeps, options: PassOptions): Promise<PassReport> {
  const { api } = deps;
  const before = { ...api.stats };
  const seen = await observe(deps, options);
  const { previous, hasher, scope, sources, changes, listed } = seen;
  // With nothing changed and no paused rollout to resume, no workload can need a reload.
  const listing = !previous || changes.length > 0 || (previous.paused ?? []).length > 0;
  const workloads = listing
    ? await listWorkloads(api, scope, options.plan.names, hasher.keyId)
    : [];
  const now = deps.now();
  const plan = planPass({ sources, changes, workloads, options: options.plan, now });
  const report: PassReport = {
    baseline: !previous,
    stateProblem: seen.stateProblem,
    sources: sources.length,
    workloads: listing ? workloads.length : undefined,
    workloadsByKind: countByKind(workloads),
    saved: false,
    changes,
    plan,
    outcomes: [],
    pending: [],
    api: before,
  };
  if (!options.dryRun) {
    // First, the Jobs an earlier pass deleted to re-create and did not (src/job-stash.ts).
    report.outcomes = await restoreStashedJobs(api, options, deps.canAct);

    const stashNamespace = options.hashKey.namespace;
    const ctx = { strategy: options.strategy, names: options.plan.names, keyId: hasher.keyId, now };
    report.outcomes.push(...(await applyAll(deps, plan.reloads, { ...ctx, stashNamespace })));
    const failed = report.outcomes
      .filter((o) => o.outcome.status === 'failed')
      .map((o) => o.reload);
    const next = nextState(hasher.keyId, now, sources, previous?.sources ?? {}, failed);
    carryOver(next.data, previous?.sources ?? {}, listed);
    next.data.paused = pausedIds(workloads, plan.reloads);
    next.data.labelSelector = options.scope.resourceLabelSelector;
    report.pending = next.pending;
    await persist(deps, report, previous, next.data);
  }
  report.api = statsSince(api, before);
  return report;
}

interface Observed {
  hasher: Hasher;
  /** The usable observed state, if any. */
  previous: StateData | undefined;
  stateProblem: string | undefined;
  scope: Scope;
  sources: Source[];
  changes: Change[];
  /** Whether an entry of the state is one this pass listed (see `listsEntry`). */
  listed: (id: string) => boolean;
}

/**
 * The reloader's own objects, never sources: the state's ConfigMaps (with --state=configmap: in
 * scope, they would be a change every pass), the hash key and the stashed Jobs.
 */
function ownObjects(
  store: StateStore,
  hashKey: PassOptions['hashKey'],
): (o: { kind: string; namespace: string; name: string }) => boolean {
  return (o) =>
    store.owns?.(o) === true ||
    (o.kind === 'Secret' &&
      o.namespace === hashKey.namespace &&
      (o.name === hashKey.name || o.name.startsWith(stashPrefix)));
}

/** The hash key, the observed state, and the sources in scope compared with it. */
async function observe(deps: PassDeps, options: PassOptions): Promise<Observed> {
  const { api, store } = deps;
  const { namespace, name } = options.hashKey;
  const hasher = new Hasher((await loadHashKey(api, namespace, name, !options.dryRun)).key);
  const loaded = await store.load();
  let stateProblem = loaded.problem;
  let previous = loaded.data;
  if (previous && previous.keyId !== hasher.keyId) {
    stateProblem = `state ${store.location} was made with another hash key: recording a new baseline`;
    previous = undefined;
  }
  const scope = await resolveScope(api, options.scope);
  const observed = previous?.sources ?? {};
  const own = ownObjects(store, options.hashKey);
  const sources = await listSources(api, scope, hasher, options.plan.names, observed, own);
  const sameSelector = previous?.labelSelector === options.scope.resourceLabelSelector;
  const listed = listsEntry(scope, sameSelector);
  const changes = previous ? detectChanges(observed, sources, listed) : [];
  return { hasher, previous, stateProblem, scope, sources, changes, listed };
}

async function applyAll(
  deps: PassDeps,
  reloads: Reload[],
  ctx: ApplyContext,
): Promise<PassReport['outcomes']> {
  const canAct = deps.canAct ?? (() => true);
  const applyReload = reloadApplier(deps.api, canAct);
  const outcomes: PassReport['outcomes'] = [];
  for (const reload of reloads) {
    const outcome = canAct() ? await applyReload(reload, ctx) : notActing;
    outcomes.push({ reload, outcome });
  }
  return outcomes;
}

/**
 * Writes the state unless it says what the stored one says (its time aside), and only while this
 * instance holds the Lease. A failure is reported, not thrown, so the outcomes are still told.
 */
async function persist(
  deps: PassDeps,
  report: PassReport,
  previous: StateData | undefined,
  next: StateData,
): Promise<void> {
  if (previous && canonical(previous) === canonical(next)) return;
  if (deps.holdsLease && !deps.holdsLease()) {
    report.saveError = 'not saved: this instance lost the Lease';
    return;
  }
  try {
    await deps.store.save(next);
    report.saved = true;
  } catch (err) {
    report.saveError = `state ${deps.store.location} not saved: ${message(err)}`;
  }
}

function canonical(state: StateData): string {
  return JSON.stringify({ ...state, savedAt: undefined }, sortedKeys);
}

function statsSince(api: Api, before: ApiStats): ApiStats {
  return {
    requests: api.stats.requests - before.requests,
    bytesRead: api.stats.bytesRead - before.bytesRead,
    connections: api.stats.connections - before.connections,
  };
}

/** Keeps the entries this pass did not list (outside its scope) as they were. */
function carryOver(
  next: StateData,
  observed: Record<string, ObservedSource>,
  listed: (id: string) => boolean,
): void {
  for (const [id, entry] of Object.entries(observed)) {
    if (!(id in next.sources) && !listed(id)) next.sources[id] = entry;
  }
}

function countByKind(workloads: Workload[]): Partial<Record<WorkloadKind, number>> {
  const out: Partial<Record<WorkloadKind, number>> = {};
  for (const w of workloads) out[w.kind] = (out[w.kind] ?? 0) + 1;
  return out;
}

/** Deployments held paused by a pause period, so that a later pass lists workloads to resume them. */
function pausedIds(workloads: Workload[], reloads: Reload[]): string[] | undefined {
  const ids = new Set(workloads.filter((w) => w.pausedAt).map(workloadId));
  for (const r of reloads) if (r.pause) ids.add(workloadId(r.workload));
  return ids.size > 0 ? [...ids].sort() : undefined;
}

function sortedKeys(_key: string, value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).sort(([x], [y]) => (x < y ? -1 : 1)));
}

/**
 * The state to persist: what was listed, except that a source whose reload failed keeps its old
 * entry (or stays absent, or stays present if deleted), so the next pass sees the change again.
 * The workloads that did roll hold the new hash in their record, so they are not rolled twice.
 */
export function nextState(
  keyId: string,
  now: Date,
  sources: Source[],
  observed: Record<string, ObservedSource>,
  failed: Reload[],
): { data: StateData; pending: string[] } {
  const next: Record<string, ObservedSource> = {};
  for (const s of sources) {
    next[sourceId(s)] = { uid: s.uid, resourceVersion: s.resourceVersion, hash: s.hash };
  }
  const pending = new Set<string>();
  for (const reload of failed) {
    for (const trigger of reload.triggers) {
      const id = sourceId({
        namespace: reload.workload.namespace,
        kind: trigger.kind,
        name: trigger.name,
      });
      pending.add(id);
      const before = observed[id];
      if (before) next[id] = before;
      else Reflect.deleteProperty(next, id);
    }
  }
  return {
    data: { version: 1, keyId, savedAt: now.toISOString(), sources: next },
    pending: [...pending],
  };
}
