// Passes and reloads made up for unit tests (src/reports/, the plan's explanation, the next
// state): no cluster.
import { notActing, type Outcome } from '../apply.js';
import type { WorkloadKind } from '../model.js';
import type { PassReport } from '../pass.js';
import type { Reload, Trigger } from '../plan.js';
import type { PassResult } from './reporter.js';

export const finishedAt = new Date('2024-05-01T12:00:00.123Z');

export function trigger(overrides: Partial<Trigger> = {}): Trigger {
  return {
    kind: 'ConfigMap',
    name: 'app',
    rule: 'auto',
    reason: 'updated',
    hash: 'h2',
    ...overrides,
  };
}

export function reload(
  name: string,
  overrides: { kind?: WorkloadKind; namespace?: string; uid?: string } & Partial<Reload> = {},
): Reload {
  const { kind = 'Deployment', namespace = 'ns', uid = `uid-${name}`, ...rest } = overrides;
  return {
    workload: { kind, namespace, name, uid, annotations: {}, references: [], record: {} },
    triggers: [trigger()],
    record: {},
    pause: false,
    resume: false,
    ...rest,
  };
}

export const patched: Outcome = { status: 'patched', ops: [] };
export const recreated: Outcome = { status: 'recreated', ops: [] };
export const alreadyDone: Outcome = { status: 'already-done', ops: [] };
export const failed = (error: string): Outcome => ({ status: 'failed', error });
export { notActing };

export function report(
  outcomes: { reload: Reload; outcome: Outcome }[],
  overrides: Partial<PassReport> = {},
): PassReport {
  return {
    baseline: false,
    sources: 3,
    workloads: outcomes.length,
    workloadsByKind: { Deployment: outcomes.length },
    saved: true,
    changes: [{ kind: 'ConfigMap', namespace: 'ns', name: 'app', type: 'updated', hash: 'h2' }],
    plan: { reloads: outcomes.map((o) => o.reload), warnings: [] },
    outcomes,
    webhooks: [],
    pending: [],
    batch: {
      now: outcomes.map((o) => o.reload),
      held: [],
      blocking: [],
      stalled: [],
      options: { maxPerPass: undefined, waitHealthy: false },
      warnings: [],
    },
    api: { requests: 7, bytesRead: 4096, connections: 1 },
    ...overrides,
  };
}

export function done(r: PassReport, durationMs = 1500): PassResult {
  return { status: 'done', report: r, durationMs, finishedAt };
}

/** The value of one sample of a text exposition, by name and exact label set. */
export function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const wanted = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(',');
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const got = (match[2] ?? '').split(',').filter(Boolean).sort().join(',');
    if (got === wanted) return Number(match[3]);
  }
  return undefined;
}
