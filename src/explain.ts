import type { HeldReload } from './batches.js';
import { workloadId } from './model.js';
import type { BatchReport, PassReport } from './pass.js';
import type { Reload, Trigger } from './plan.js';

const ruleText: Record<Trigger['rule'], string> = {
  'reload-list': 'named in its reload annotation',
  search: 'search annotation, and the object carries match',
  'typed-auto': 'typed auto annotation, and the pod spec references it',
  auto: 'auto annotation, and the pod spec references it',
  'auto-reload-all': '--auto-reload-all, and the pod spec references it',
};

const reasonText: Record<Trigger['reason'], string> = {
  updated: 'its content changed',
  created: 'it was created',
  deleted: 'it was deleted',
  outdated: "the workload's record holds an older hash",
  'held-back': 'a batch held this reload back (the held-back label on the workload)',
  'reloader-outdated': 'the record Stakater Reloader left on the workload names older content',
};

/** One line per trigger: which source, why it counts, and which rule decided. */
export function describeTrigger(t: Trigger): string {
  return `${t.kind}/${t.name}: ${reasonText[t.reason]}; rule: ${ruleText[t.rule]}`;
}

/** The workload, and what the reload does beyond rolling it. */
export function describeReload(reload: Reload): string {
  const how = reload.resume
    ? ' (resumes its paused rollout)'
    : reload.pause
      ? ' (inside its pause period: template updated, rollout held back)'
      : '';
  const atOnce = reload.rollAtOnce === true ? ' (roll-at-once: outside the batches)' : '';
  return `${workloadId(reload.workload)}${how}${atOnce}`;
}

/** Why a held-back reload waits, and its place in line. */
export function describeHeld(held: HeldReload, batch: BatchReport): string {
  const why =
    held.cause === 'waiting'
      ? `waiting for ${batch.blocking.map((b) => b.id).join(', ')} to be available`
      : `batch full (${batch.options.maxPerPass ?? 0} reloads a pass)`;
  const since = held.since ? `, held back since ${held.since}` : '';
  return `${workloadId(held.reload.workload)} (${ordinal(held.place)} in line${since}): ${why}`;
}

function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' }[n % 10] ?? 'th');
  return `${n}${suffix}`;
}

/** The batch rules in force, and the rollouts the batch waits for; nothing without them. */
function batchLines(batch: BatchReport): string[] {
  const { maxPerPass, waitHealthy } = batch.options;
  if (maxPerPass === undefined && !waitHealthy) return [];
  const rules = [
    maxPerPass === undefined
      ? 'no limit of reloads a pass'
      : `at most ${maxPerPass} reloads a pass (the oldest held back first, then by namespace/Kind/name)`,
  ];
  if (waitHealthy) rules.push('each batch waits until the one before it is available');
  const lines = [`batches: ${rules.join('; ')}`];
  for (const { id, health } of batch.blocking) {
    lines.push(
      `  waiting for ${id}: ${health.state === 'stalled' ? 'STALLED, ' : ''}${health.detail}`,
    );
  }
  return lines;
}

/**
 * The workloads a pass listed, and where: all in scope, or those of the namespaces of its changes
 * and pending reloads (the only ones a reload can concern).
 */
export function describeListed(
  report: Pick<PassReport, 'workloads' | 'workloadNamespaces'>,
): string {
  if (report.workloads === undefined) return 'no workloads listed';
  const where = report.workloadNamespaces;
  if (!where) return `${report.workloads} workloads listed (all in scope)`;
  const namespaces = where.length === 1 ? 'namespace' : 'namespaces';
  return `${report.workloads} workloads listed in ${namespaces} ${where.join(', ')}`;
}

/** The plan as a person reads it: what would roll and why, and what was only recorded. */
export function formatPlan(report: PassReport): string {
  const lines: string[] = [];
  lines.push(
    `${report.sources} ConfigMaps/Secrets and ${describeListed(report)}; ` +
      (report.baseline
        ? 'no observed state: this pass records a baseline'
        : `${report.changes.length} changed`),
  );
  if (report.stateProblem) lines.push(`  ${report.stateProblem}`);
  for (const change of report.changes) {
    lines.push(`  changed: ${change.namespace}/${change.kind}/${change.name} (${change.type})`);
  }
  lines.push(...batchLines(report.batch));
  for (const { change } of report.webhooks) {
    lines.push(`post the webhook for ${change.namespace}/${change.kind}/${change.name}`);
  }
  if (report.plan.reloads.length === 0) lines.push('nothing to reload');
  for (const reload of report.batch.now) {
    lines.push(`reload ${describeReload(reload)}`);
    for (const trigger of reload.triggers) lines.push(`  because ${describeTrigger(trigger)}`);
  }
  for (const held of report.batch.held) {
    lines.push(`hold ${describeHeld(held, report.batch)}`);
    for (const trigger of held.reload.triggers) lines.push(`  because ${describeTrigger(trigger)}`);
  }
  for (const warning of [...report.plan.warnings, ...report.batch.warnings])
    lines.push(`warning: ${warning}`);
  return lines.join('\n');
}
