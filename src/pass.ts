import type { Api, ApiStats } from './api.js';
import { message } from './errors.js';
import { markApplier, notActing, reloadApplier, type ApplyContext, type Outcome } from './apply.js';
import { selectBatch, type Batch, type BatchOptions, type HeldReload } from './batches.js';
import { sourceId, workloadId, type Change, type Workload, type WorkloadKind } from './model.js';
import { restoreStashedJobs } from './job-stash.js';
import { markDue, type PatchContext, type ReloadStrategy } from './patches.js';
import { planPass, type Plan, type PlanOptions, type Reload } from './plan.js';
import type { RolloutHealth } from './rollout-health.js';
import type { ScopeOptions } from './scope.js';
import type { StateData, StateStore } from './state.js';
import { postWebhook, webhookChanges, webhookTimeoutMs } from './webhook.js';
import { workloadNamespaces } from './workload-namespaces.js';
import { listWorkloads } from './workloads.js';
import { observe, type Observed } from './observe.js';
import {
  carryOver,
  heldToKeep,
  nextState,
  pausedIds,
  podStatusesToKeep,
  sameState,
  waitsToKeep,
} from './next-state.js';

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
  /** A major garbage collection, run where a pass has just let go of much (see observe.ts). */
  collect?: () => void;
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
  // Nothing moved and nothing is pending: the stored state says it all already.
  if (seen.unchanged) return;
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

function statsSince(api: Api, before: ApiStats): ApiStats {
  return {
    requests: api.stats.requests - before.requests,
    bytesRead: api.stats.bytesRead - before.bytesRead,
    connections: api.stats.connections - before.connections,
  };
}

function countByKind(workloads: Workload[]): Partial<Record<WorkloadKind, number>> {
  const out: Partial<Record<WorkloadKind, number>> = {};
  for (const w of workloads) out[w.kind] = (out[w.kind] ?? 0) + 1;
  return out;
}
