import type { Api, ApiStats } from './api.js';
import { message } from './errors.js';
import { notActing, reloadApplier, type ApplyContext, type Outcome } from './apply.js';
import { detectChanges } from './changes.js';
import { loadHashKey } from './hash-key.js';
import { Hasher } from './hashing.js';
import { sourceId, workloadId, type Change, type Source, type Workload } from './model.js';
import { restoreStashedJobs, stashPrefix } from './job-stash.js';
import { reloaderShaRequest } from './reloader-records.js';
import type { ReloadStrategy } from './patches.js';
import { planPass, type Plan, type PlanOptions, type Reload } from './plan.js';
import { listsEntry, resolveScope, type Scope, type ScopeOptions } from './scope.js';
import { listSources } from './sources.js';
import type { ObservedSource, StateData, StateStore } from './state.js';
import { postWebhook, webhookChanges } from './webhook.js';
import { listWorkloads } from './workloads.js';

export interface PassOptions {
  scope: ScopeOptions;
  plan: PlanOptions;
  strategy: ReloadStrategy;
  dryRun: boolean;
  hashKey: { namespace: string; name: string };
  /** Reloader's webhook mode: no workload is listed or reloaded; each change is POSTed here. */
  webhookUrl?: string | undefined;
  /** Start a Job from each CronJob reloaded, as Reloader does. */
  runCronJobsNow?: boolean | undefined;
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
  /** Whether the state was written (it is not when nothing in it changed). */
  saved: boolean;
  /** Why the state could not be written: its changes are seen again by the next pass. */
  saveError?: string | undefined;
  changes: Change[];
  plan: Plan;
  outcomes: { reload: Reload; outcome: Outcome }[];
  /** Webhook mode: the changes to POST (all of them in a dry run), and why a POST failed. */
  webhooks: WebhookPost[];
  /** Sources whose change stays pending because a reload (or POST) it triggered failed. */
  pending: string[];
  /** What this pass asked of the API server. */
  api: ApiStats;
}

/** One change POSTed (or to POST) in webhook mode. */
export interface WebhookPost {
  change: Change;
  /** Why the POST failed: the change stays pending, and the next pass POSTs it again. */
  error?: string | undefined;
}

/** One pass (SPEC §1): list, compare, decide, patch each triggered workload once, persist. */
export async function runPass(deps: PassDeps, options: PassOptions): Promise<PassReport> {
  const { api } = deps;
  const before = { ...api.stats };
  const seen = await observe(deps, options);
  const { previous, hasher, scope, sources, changes } = seen;
  const listing = needsWorkloads(options, seen);
  const workloads =
    seen.workloads ??
    (listing ? await listWorkloads(api, scope, options.plan.names, hasher.keyId) : []);
  const now = deps.now();
  const { reloaderHashes } = seen;
  const plan = planPass({
    sources,
    changes,
    workloads,
    options: options.plan,
    now,
    reloaderHashes,
  });
  const report: PassReport = {
    baseline: !previous,
    stateProblem: seen.stateProblem,
    sources: sources.length,
    workloads: listing ? workloads.length : undefined,
    saved: false,
    changes,
    plan,
    outcomes: [],
    webhooks: options.webhookUrl
      ? webhookChanges(changes, options.plan).map((change) => ({ change }))
      : [],
    pending: [],
    api: before,
  };
  if (!options.dryRun) await act(deps, options, { seen, workloads, now, report });
  report.api = statsSince(api, before);
  return report;
}

/**
 * Whether the pass lists workloads: not in webhook mode; otherwise on a baseline, or when a source
 * changed or a paused rollout waits to be resumed (else no workload can need a reload).
 */
function needsWorkloads(options: PassOptions, { previous, changes }: Observed): boolean {
  if (options.webhookUrl !== undefined) return false;
  return !previous || changes.length > 0 || (previous.paused ?? []).length > 0;
}

/** Performs the reloads (or POSTs) of a pass that is not a dry run, then saves the state. */
async function act(
  deps: PassDeps,
  options: PassOptions,
  {
    seen,
    workloads,
    now,
    report,
  }: { seen: Observed; workloads: Workload[]; now: Date; report: PassReport },
): Promise<void> {
  const { previous, hasher, sources, listed } = seen;
  const failed = options.webhookUrl
    ? await postAll(deps, options.webhookUrl, report.webhooks)
    : await reloadAll(deps, options, { keyId: hasher.keyId, now, report });
  const next = nextState(hasher.keyId, now, sources, previous?.sources ?? {}, failed);
  carryOver(next.data, previous?.sources ?? {}, listed);
  next.data.paused = pausedIds(workloads, report.plan.reloads);
  next.data.labelSelector = options.scope.resourceLabelSelector;
  report.pending = next.pending;
  await persist(deps, report, previous, next.data);
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
  /** The workloads, when a baseline listed them before the sources. */
  workloads: Workload[] | undefined;
  /** On a baseline: Reloader's hashes of the sources Reloader records name (see plan.ts). */
  reloaderHashes: Map<string, string> | undefined;
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
  const { hasher, previous, stateProblem } = await loadState(deps, options);
  const scope = await resolveScope(api, options.scope);
  const observed = previous?.sources ?? {};
  const own = ownObjects(store, options.hashKey);
  // A baseline lists the workloads first, so that the content of the sources their Reloader
  // records name (and of those only) is also hashed as Reloader hashes it, while it is read.
  const early =
    !previous && options.webhookUrl === undefined
      ? await listWorkloads(api, scope, options.plan.names, hasher.keyId)
      : undefined;
  const reloader = early && reloaderShaRequest(early);
  const names = options.plan.names;
  const sources = await listSources(api, scope, hasher, names, observed, own, reloader);
  const sameSelector = previous?.labelSelector === options.scope.resourceLabelSelector;
  const listed = listsEntry(scope, sameSelector);
  const changes = previous ? detectChanges(observed, sources, listed) : [];
  return {
    hasher,
    previous,
    stateProblem,
    scope,
    sources,
    changes,
    listed,
    workloads: early,
    reloaderHashes: reloader?.found,
  };
}

/** The hash key and the observed state, unless it was made with another key. */
async function loadState(
  { api, store }: PassDeps,
  options: PassOptions,
): Promise<{ hasher: Hasher; previous: StateData | undefined; stateProblem: string | undefined }> {
  const { namespace, name } = options.hashKey;
  const hasher = new Hasher((await loadHashKey(api, namespace, name, !options.dryRun)).key);
  const loaded = await store.load();
  if (loaded.data && loaded.data.keyId !== hasher.keyId) {
    const stateProblem = `state ${store.location} was made with another hash key: recording a new baseline`;
    return { hasher, previous: undefined, stateProblem };
  }
  return { hasher, previous: loaded.data, stateProblem: loaded.problem };
}

/** Performs the plan's reloads (after the Jobs left to re-create); the sources of failed ones. */
async function reloadAll(
  deps: PassDeps,
  options: PassOptions,
  { keyId, now, report }: { keyId: string; now: Date; report: PassReport },
): Promise<string[]> {
  // First, the Jobs an earlier pass deleted to re-create and did not (src/job-stash.ts).
  report.outcomes = await restoreStashedJobs(deps.api, options, deps.canAct);
  const stashNamespace = options.hashKey.namespace;
  const ctx = {
    strategy: options.strategy,
    names: options.plan.names,
    keyId,
    now,
    runCronJobsNow: options.runCronJobsNow === true,
  };
  report.outcomes.push(...(await applyAll(deps, report.plan.reloads, { ...ctx, stashNamespace })));
  return report.outcomes
    .filter((o) => o.outcome.status === 'failed')
    .flatMap(({ reload }) =>
      reload.triggers.map((t) =>
        sourceId({ namespace: reload.workload.namespace, kind: t.kind, name: t.name }),
      ),
    );
}

/**
 * Webhook mode: POSTs each change, one at a time, while this instance may act; the sources whose
 * POST failed (or was not made) stay pending.
 */
async function postAll(deps: PassDeps, url: string, posts: WebhookPost[]): Promise<string[]> {
  const canAct = deps.canAct ?? (() => true);
  const failed: string[] = [];
  for (const post of posts) {
    if (!canAct()) post.error = notActing.error;
    else {
      try {
        await postWebhook(url);
      } catch (err) {
        post.error = message(err);
      }
    }
    if (post.error) failed.push(sourceId(post.change));
  }
  return failed;
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
 * The state to persist: what was listed, except that a source whose reload failed (`failed`: its
 * id) keeps its old entry (or stays absent, or stays present if deleted), so the next pass sees
 * the change again. The workloads that did roll hold the new hash in their record, so they are not
 * rolled twice.
 */
export function nextState(
  keyId: string,
  now: Date,
  sources: Source[],
  observed: Record<string, ObservedSource>,
  failed: string[],
): { data: StateData; pending: string[] } {
  const next: Record<string, ObservedSource> = {};
  for (const s of sources) {
    next[sourceId(s)] = { uid: s.uid, resourceVersion: s.resourceVersion, hash: s.hash };
  }
  const pending = new Set(failed);
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
