import type { Api, ApiStats } from './api.js';
import { message } from './errors.js';
import { markApplier, notActing, reloadApplier, type ApplyContext, type Outcome } from './apply.js';
import {
  heldSinceNext,
  nextWaits,
  selectBatch,
  type Batch,
  type BatchOptions,
  type HeldReload,
} from './batches.js';
import { detectChanges } from './changes.js';
import {
  nextPodStatuses,
  reloaderClassHashes,
  secretProviderClassSources,
  type PodStatus,
} from './csi.js';
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
import { markDue, type PatchContext, type ReloadStrategy } from './patches.js';
import { reloaderShaRequest, type ReloaderShaRequest } from './reloader-records.js';
import { planPass, type Plan, type PlanOptions, type Reload } from './plan.js';
import type { RolloutHealth } from './rollout-health.js';
import {
  listsEntry,
  listsPodStatuses,
  listsWorkload,
  resolveScope,
  type Scope,
  type ScopeOptions,
} from './scope.js';
import { listPodStatuses, listSources, type Comparing } from './sources.js';
import type { ObservedSource, StateData, StateStore } from './state.js';
import { postWebhook, webhookChanges, webhookTimeoutMs } from './webhook.js';
import { workloadNamespaces } from './workload-namespaces.js';
import { listWorkloads } from './workloads.js';

export interface PassOptions {
  scope: ScopeOptions;
  plan: PlanOptions;
  strategy: ReloadStrategy;
  dryRun: boolean;
  hashKey: { namespace: string; name: string };
  /** Reload storms (SPEC §10): `--max-reloads-per-pass`, `--wait-healthy`. */
  batch: BatchOptions;
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

/**
 * What the batches of SPEC §10 decided in a pass: what rolled (`now`), what waits and why
 * (`held`), which earlier rollouts it waits for (`blocking`), and which of those are past their
 * progress deadline (`stalled`, reported on every pass while it lasts). Events and metrics read
 * these: `stalled` is the warning to raise on a workload, `held.length` the reloads pending.
 */
export interface BatchReport extends Batch {
  options: BatchOptions;
  /** One line each: a stalled rollout that stops the batches, a mark that could not be written. */
  warnings: string[];
}

/** One change POSTed (or to POST) in webhook mode. */
export interface WebhookPost {
  change: Change;
  /** Why the POST failed: the change stays pending, and the next pass POSTs it again. */
  error?: string | undefined;
}

export interface PassReport {
  /** No usable state: this pass recorded a baseline (and rolled only provably outdated workloads). */
  baseline: boolean;
  /** Why the state was not usable, when it existed. */
  stateProblem?: string | undefined;
  sources: number;
  /**
   * Workloads listed: every one in scope, or those of `workloadNamespaces`; undefined when the
   * pass had no reason to list any (nothing changed, nothing pending).
   */
  workloads: number | undefined;
  /**
   * The namespaces whose workloads were listed, when not all in scope: those of the changes and
   * of the pending reloads (see workload-namespaces.ts).
   */
  workloadNamespaces?: readonly string[] | undefined;
  /** The workloads listed, by kind (empty when none were listed). */
  workloadsByKind: Partial<Record<WorkloadKind, number>>;
  /** Whether the state was written (it is not when nothing in it changed). */
  saved: boolean;
  /** Why the state could not be written: its changes are seen again by the next pass. */
  saveError?: string | undefined;
  changes: Change[];
  plan: Plan;
  outcomes: { reload: Reload; outcome: Outcome }[];
  /** Webhook mode: the changes to POST (all of them in a dry run), and why a POST failed. */
  webhooks: WebhookPost[];
  /** Sources whose change stays pending: a reload (or POST) it triggered failed, or a batch held it back. */
  pending: string[];
  /** The batches (SPEC §10): what rolls now, what waits for a later pass, and why. */
  batch: BatchReport;
  /** What this pass asked of the API server. */
  api: ApiStats;
}

/** One pass (SPEC §1): list, compare, decide, patch each triggered workload once, persist. */
export async function runPass(deps: PassDeps, options: PassOptions): Promise<PassReport> {
  const { api } = deps;
  const before = { ...api.stats };
  const seen = await observe(deps, options);
  const { previous, hasher, scope, sources, changes } = seen;
  const listing = workloadNamespaces({
    changes,
    previous,
    scope,
    webhook: options.webhookUrl !== undefined,
  });
  const only = listing.list === 'namespaces' ? listing.namespaces : undefined;
  const workloads =
    seen.workloads ??
    (listing.list === 'none'
      ? []
      : await listWorkloads(api, scope, options.plan.names, hasher.keyId, only));
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
  const heldSince = new Map(Object.entries(previous?.heldBack ?? {}));
  const batch = selectBatch({
    reloads: plan.reloads,
    heldSince,
    waitingFor: previous?.waitingFor ?? [],
    health: healthOf(workloads),
    options: options.batch,
  });
  const report: PassReport = {
    baseline: !previous,
    stateProblem: seen.stateProblem,
    sources: sources.length,
    workloads: listing.list === 'none' ? undefined : workloads.length,
    workloadNamespaces: only,
    workloadsByKind: countByKind(workloads),
    saved: false,
    changes,
    plan,
    outcomes: [],
    webhooks: options.webhookUrl
      ? webhookChanges(changes, options.plan).map((change) => ({ change }))
      : [],
    pending: [],
    batch: { ...batch, options: options.batch, warnings: stallWarnings(batch) },
    api: before,
  };
  if (!options.dryRun) await act(deps, options, { seen, workloads, report, now, heldSince });
  report.api = statsSince(api, before);
  return report;
}

function healthOf(workloads: Workload[]): Map<string, RolloutHealth> {
  const health = new Map<string, RolloutHealth>();
  for (const w of workloads) if (w.rollout) health.set(workloadId(w), w.rollout);
  return health;
}

function stallWarnings(batch: Batch): string[] {
  return batch.stalled.map(
    ({ id, health }) =>
      `${id}: rollout stalled (${health.detail}): the batches stop until it is available ` +
      `(${batch.held.length} reloads held back)`,
  );
}

interface Acting {
  seen: Observed;
  workloads: Workload[];
  report: PassReport;
  now: Date;
  heldSince: ReadonlyMap<string, string>;
}

/** Performs the batch's reloads (or the webhook's POSTs), and persists the state with what waits. */
async function act(
  deps: PassDeps,
  options: PassOptions,
  { seen, workloads, report, now, heldSince }: Acting,
): Promise<void> {
  const { previous, hasher, sources, listed, scope } = seen;
  const { batch } = report;
  const failedPosts = options.webhookUrl
    ? await postAll(deps, options.webhookUrl, report.webhooks)
    : [];
  const outcomes = options.webhookUrl
    ? []
    : await reloadBatch(deps, options, { keyId: hasher.keyId, now, report });
  const failed = report.outcomes.filter((o) => o.outcome.status === 'failed').map((o) => o.reload);
  const heldBack = batch.held.map((h) => h.reload);
  const observed = previous?.sources ?? {};
  const next = nextState(hasher.keyId, now, sources, observed, { failed, heldBack, failedPosts });
  carryOver(next.data, observed, listed);
  next.data.paused = pausedIds(workloads, batch.now);
  next.data.heldBack = heldToKeep(batch, now, { previous: heldSince, scope });
  next.data.waitingFor = waitsToKeep(batch, outcomes, options.batch, {
    previous: previous?.waitingFor ?? [],
    scope,
  });
  next.data.labelSelector = options.scope.resourceLabelSelector;
  next.data.podStatuses = podStatusesToKeep(seen, new Set(next.pending));
  report.pending = next.pending;
  await persist(deps, report, previous, next.data);
}

/**
 * The reloads of this pass's batch, after the Jobs left to re-create and the labels of what the
 * batch holds back; the outcomes of the batch's own reloads.
 */
async function reloadBatch(
  deps: PassDeps,
  options: PassOptions,
  { keyId, now, report }: { keyId: string; now: Date; report: PassReport },
): Promise<PassReport['outcomes']> {
  // First, the Jobs an earlier pass deleted to re-create and did not (src/job-stash.ts).
  report.outcomes = await restoreStashedJobs(deps.api, options, deps.canAct);
  const ctx = {
    strategy: options.strategy,
    names: options.plan.names,
    keyId,
    now,
    runCronJobsNow: options.runCronJobsNow === true,
  };
  // The labels before the rolls: whatever stops the pass after them, what waits is known.
  report.batch.warnings.push(...(await markAll(deps, report.batch.held, ctx)));
  const stashNamespace = options.hashKey.namespace;
  const outcomes = await applyAll(deps, report.batch.now, { ...ctx, stashNamespace });
  report.outcomes.push(...outcomes);
  return outcomes;
}

/**
 * The pod statuses' entries to persist (`--enable-csi-integration`; see csi.ts): without the flag,
 * those of the state as they were.
 */
function podStatusesToKeep(
  { previous, podStatuses, scope }: Observed,
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

/**
 * The reloads held back, and since when: those of this pass, and those of the state outside this
 * pass's scope (a run on part of the cluster leaves the rest as it was).
 */
function heldToKeep(
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
function waitsToKeep(
  batch: Batch,
  outcomes: PassReport['outcomes'],
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
 * Labels each held-back reload's workload (`markOperations`), unless the listed label already
 * says it. A label that cannot be written is a warning: the state keeps the change pending.
 */
async function markAll(deps: PassDeps, held: HeldReload[], ctx: PatchContext): Promise<string[]> {
  const canAct = deps.canAct ?? (() => true);
  const mark = markApplier(deps.api, canAct);
  const warnings: string[] = [];
  for (const { reload } of held) {
    if (!markDue(reload)) continue;
    if (!canAct()) break;
    const outcome = await mark(reload, ctx);
    if (outcome.status === 'failed') {
      warnings.push(`held back, and its label could not be written: ${outcome.error}`);
    }
  }
  return warnings;
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
  /** `--enable-csi-integration`: the SecretProviderClassPodStatus objects listed. */
  podStatuses: PodStatus[] | undefined;
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
  const names = options.plan.names;
  const loading = loadState(deps, options);
  // Its failure is the pass's, thrown below; it must not also be an unhandled rejection meanwhile.
  loading.catch(() => undefined);
  const scope = await resolveScope(api, options.scope);
  // A baseline lists the workloads first, so that the content of the sources their Reloader
  // records name (and of those only) is also hashed as Reloader hashes it, while it is read.
  const comparing = loading.then(async ({ hasher, previous }): Promise<Comparing> => {
    const early =
      !previous && options.webhookUrl === undefined
        ? await listWorkloads(api, scope, names, hasher.keyId)
        : undefined;
    const reloader = early && reloaderShaRequest(early);
    return { hasher, observed: previous?.sources ?? {}, reloader, early };
  });
  // The lists of sources are asked for at once: their first pages are on their way while the
  // state is read and parsed (what a steady pass does besides listing).
  const own = ownObjects(store, options.hashKey);
  const [{ hasher, previous, stateProblem }, { observed, reloader, early }, sources] =
    await Promise.all([loading, comparing, listSources(api, scope, names, comparing, own)]);
  const podStatuses = await listSecretProviderClasses(api, scope, hasher, {
    previous,
    sources,
    reloader,
  });
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
    podStatuses,
  };
}

/**
 * `--enable-csi-integration`: the SecretProviderClassPodStatus objects in scope, and the
 * SecretProviderClasses they show, added to `sources` (see csi.ts). Without it, nothing is listed.
 * On a baseline, Reloader's hashes of the classes its records name go into `reloader.found`.
 */
async function listSecretProviderClasses(
  api: Api,
  scope: Scope,
  hasher: Hasher,
  into: {
    previous: StateData | undefined;
    sources: Source[];
    reloader: ReloaderShaRequest | undefined;
  },
): Promise<PodStatus[] | undefined> {
  if (!scope.csiIntegration) return undefined;
  const { previous, sources, reloader } = into;
  const podStatuses = await listPodStatuses(api, scope, hasher, reloader);
  const before = { sources: previous?.sources ?? {}, podStatuses: previous?.podStatuses ?? {} };
  const classes = secretProviderClassSources(podStatuses, before);
  sources.push(...classes);
  for (const [id, sha] of reloaderClassHashes(classes, podStatuses)) reloader?.found.set(id, sha);
  return podStatuses;
}

/** The hash key and the observed state, unless it was made with another key. */
async function loadState(
  { api, store }: PassDeps,
  options: PassOptions,
): Promise<{ hasher: Hasher; previous: StateData | undefined; stateProblem: string | undefined }> {
  const { namespace, name } = options.hashKey;
  // Neither needs the other: read at once.
  const [key, loaded] = await Promise.all([
    loadHashKey(api, namespace, name, !options.dryRun),
    store.load(),
  ]);
  const hasher = new Hasher(key.key);
  if (loaded.data && loaded.data.keyId !== hasher.keyId) {
    const stateProblem = `state ${store.location} was made with another hash key: recording a new baseline`;
    return { hasher, previous: undefined, stateProblem };
  }
  return { hasher, previous: loaded.data, stateProblem: loaded.problem };
}

/**
 * Webhook mode: POSTs each change, one at a time, while this instance may act; the sources whose
 * POST failed (or was not made) stay pending.
 */
async function postAll(deps: PassDeps, url: string, posts: WebhookPost[]): Promise<string[]> {
  const canAct = deps.canAct ?? (() => true);
  const failed: string[] = [];
  for (const post of posts) {
    // A receiver that hangs holds the pass no longer than the pass's own deadline.
    const left = (deps.api.deadline ?? Infinity) - Date.now();
    if (!canAct()) post.error = notActing.error;
    else if (left <= 0) post.error = 'not sent: the pass is past its deadline';
    else {
      try {
        await postWebhook(url, Math.min(webhookTimeoutMs, left));
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
  if (previous && sameState(previous, next)) return;
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

/** Whether two states say the same (their times aside). */
function sameState(a: StateData, b: StateData): boolean {
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

function statsSince(api: Api, before: ApiStats): ApiStats {
  return {
    requests: api.stats.requests - before.requests,
    bytesRead: api.stats.bytesRead - before.bytesRead,
    connections: api.stats.connections - before.connections,
  };
}

function entryOf(s: Source): ObservedSource {
  return { uid: s.uid, resourceVersion: s.resourceVersion, hash: s.hash };
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

/** Keeps the entries this pass did not list (outside its scope) as they were. */
function carryOver(
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
