import type { KubeConfig } from '@kubernetes/client-node';
import { reloadApplier, type Outcome } from './apply.js';
import { detectChanges } from './changes.js';
import { loadHashKey } from './hash-key.js';
import { Hasher } from './hashing.js';
import { sourceId, type Change, type Source } from './model.js';
import type { ReloadStrategy } from './patches.js';
import { planPass, type Plan, type PlanOptions, type Reload } from './plan.js';
import { resolveScope, type ScopeOptions } from './scope.js';
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
  kc: KubeConfig;
  store: StateStore;
  now: () => Date;
  /**
   * Asked before each patch: false once this instance may no longer act (it lost the Lease, or it
   * is shutting down). The reloads not yet done then stay pending for the next pass.
   */
  canAct?: () => boolean;
}

export interface PassReport {
  /** No usable state: this pass recorded a baseline (and rolled only provably outdated workloads). */
  baseline: boolean;
  /** Why the state was not usable, when it existed. */
  stateProblem?: string | undefined;
  sources: number;
  workloads: number;
  changes: Change[];
  plan: Plan;
  outcomes: { reload: Reload; outcome: Outcome }[];
  /** Sources whose change stays pending because a reload it triggered failed. */
  pending: string[];
}

/** One pass (SPEC §1): list, compare, decide, patch each triggered workload once, persist. */
export async function runPass(deps: PassDeps, options: PassOptions): Promise<PassReport> {
  const { kc, store } = deps;
  const key = await loadHashKey(
    kc,
    options.hashKey.namespace,
    options.hashKey.name,
    !options.dryRun,
  );
  const hasher = new Hasher(key.key);
  const loaded = await store.load();
  let stateProblem = loaded.problem;
  let previous = loaded.data;
  if (previous && previous.keyId !== hasher.keyId) {
    stateProblem = `state ${store.location} was made with another hash key: recording a new baseline`;
    previous = undefined;
  }
  const scope = await resolveScope(kc, options.scope);
  const observed = previous?.sources ?? {};
  const sources = await listSources(kc, scope, hasher, options.plan.names, observed);
  const changes = previous ? detectChanges(observed, sources) : [];
  const workloads = await listWorkloads(kc, scope, options.plan.names, hasher.keyId);
  const now = deps.now();
  const plan = planPass({ sources, changes, workloads, options: options.plan, now });
  const report: PassReport = {
    baseline: !previous,
    stateProblem,
    sources: sources.length,
    workloads: workloads.length,
    changes,
    plan,
    outcomes: [],
    pending: [],
  };
  if (options.dryRun) return report;

  const ctx = { strategy: options.strategy, names: options.plan.names, keyId: hasher.keyId, now };
  const applyReload = reloadApplier(kc);
  for (const reload of plan.reloads) {
    const outcome: Outcome =
      deps.canAct && !deps.canAct()
        ? {
            status: 'failed',
            error: 'not applied: this instance stopped acting (Lease lost or shutting down)',
          }
        : await applyReload(reload, ctx);
    report.outcomes.push({ reload, outcome });
  }
  const failed = report.outcomes.filter((o) => o.outcome.status === 'failed').map((o) => o.reload);
  const next = nextState(hasher.keyId, now, sources, observed, failed);
  report.pending = next.pending;
  await store.save(next.data);
  return report;
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
