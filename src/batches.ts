import { workloadId } from './model.js';
import type { Reload } from './plan.js';
import { blocksBatches, type RolloutHealth } from './rollout-health.js';

/** The flags of SPEC §10 (reload storms). */
export interface BatchOptions {
  /** `--max-reloads-per-pass`: at most this many reloads in one pass; undefined: no limit. */
  maxPerPass: number | undefined;
  /** `--wait-healthy`: a batch waits until the workloads rolled before it are available. */
  waitHealthy: boolean;
}

/** Why a reload waits for a later pass. */
export type HoldCause = 'batch-full' | 'waiting';

/** A reload this pass holds back, and its place in line (1: the next to roll). */
export interface HeldReload {
  reload: Reload;
  cause: HoldCause;
  place: number;
  /** When an earlier pass first held it back (ISO 8601); undefined: held back first now. */
  since?: string | undefined;
}

/** A workload rolled by an earlier batch, and where its rollout stands now. */
export interface WaitedRollout {
  id: string;
  health: RolloutHealth;
}

/** What rolls in this pass, what waits, and what it waits for. */
export interface Batch {
  /** The reloads to perform now, in the plan's order. */
  now: Reload[];
  /** The reloads held back for later passes, in line order. */
  held: HeldReload[];
  /**
   * Workloads rolled by earlier batches whose new revision is not available yet: while there is
   * one, no reload rolls but those of workloads marked roll-at-once.
   */
  blocking: WaitedRollout[];
  /** Those of `blocking` past their progress deadline: reported, and the batches stop. */
  stalled: WaitedRollout[];
}

export interface BatchInput {
  /** The plan's reloads. */
  reloads: Reload[];
  /**
   * The reloads held back by earlier passes: when each workload was first held back, by workload
   * id (kept in the state). The oldest roll first.
   */
  heldSince: ReadonlyMap<string, string>;
  /** Workloads rolled by earlier batches and not yet seen available (kept in the state). */
  waitingFor: readonly string[];
  /** The health of the rollout of every workload listed, by workload id. */
  health: ReadonlyMap<string, RolloutHealth>;
  options: BatchOptions;
}

/**
 * Decides which of the plan's reloads roll in this pass (SPEC §10). Pure: it never waits; a
 * rollout still in progress holds the batch, and a later pass looks again.
 *
 * - A workload marked roll-at-once always rolls, and is neither counted nor waited for.
 * - With `waitHealthy`, nothing else rolls while a workload rolled by an earlier batch is not yet
 *   available at its new revision, unless that workload is itself to be reloaded again (a new
 *   change supersedes the rollout it waits for: the fix of a broken config is never held back
 *   by the rollout it fixes). A workload no longer listed is not waited for.
 * - At most `maxPerPass` of the others roll, in line order: the reloads held back longest first
 *   (`heldSince`), then by `namespace/Kind/name`. The rest wait for later passes.
 */
export function selectBatch(input: BatchInput): Batch {
  const { reloads, options } = input;
  const blocking = options.waitHealthy ? blockers(input) : [];
  let slots = blocking.length > 0 ? 0 : (options.maxPerPass ?? Number.POSITIVE_INFINITY);
  const chosen = new Set<Reload>();
  const held: HeldReload[] = [];
  const line = inLine(input.heldSince);
  for (const reload of [...reloads].sort(line)) {
    if (reload.rollAtOnce === true) {
      chosen.add(reload);
    } else if (slots > 0) {
      chosen.add(reload);
      slots--;
    } else {
      const cause = blocking.length > 0 ? 'waiting' : 'batch-full';
      const since = input.heldSince.get(workloadId(reload.workload));
      held.push({ reload, cause, place: held.length + 1, since });
    }
  }
  return {
    now: reloads.filter((r) => chosen.has(r)),
    held,
    blocking,
    stalled: blocking.filter((b) => b.health.state === 'stalled'),
  };
}

function blockers(input: BatchInput): WaitedRollout[] {
  const superseded = new Set(input.reloads.map((r) => workloadId(r.workload)));
  const out: WaitedRollout[] = [];
  for (const id of new Set(input.waitingFor)) {
    const health = input.health.get(id);
    if (health && blocksBatches(health) && !superseded.has(id)) out.push({ id, health });
  }
  return out.sort((a, b) => compare(a.id, b.id));
}

/** The oldest held-back reload first, then by `namespace/Kind/name`. */
function inLine(heldSince: ReadonlyMap<string, string>): (a: Reload, b: Reload) => number {
  // Not held back before: after every time.
  const since = (id: string): string => heldSince.get(id) ?? '\uffff';
  return (a, b) => {
    const [x, y] = [workloadId(a.workload), workloadId(b.workload)];
    return compare(since(x), since(y)) || compare(x, y);
  };
}

function compare(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

/**
 * The reloads held back, by workload id, and since when: kept for those held back before, `now`
 * for the others.
 */
export function heldSinceNext(held: HeldReload[], now: Date): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { reload, since } of held) {
    out[workloadId(reload.workload)] = since ?? now.toISOString();
  }
  return out;
}

/**
 * The workloads the next pass waits for (`--wait-healthy`): those still blocking, and those this
 * pass rolled (roll-at-once aside). Empty without `waitHealthy`.
 */
export function nextWaits(batch: Batch, rolled: Reload[], options: BatchOptions): string[] {
  if (!options.waitHealthy) return [];
  const ids = new Set(batch.blocking.map((b) => b.id));
  for (const reload of rolled) if (reload.rollAtOnce !== true) ids.add(workloadId(reload.workload));
  return [...ids].sort(compare);
}
