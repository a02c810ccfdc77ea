import { workloadId } from './model.js';
import type { PassReport } from './pass.js';
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
  'reloader-outdated': 'the record Stakater Reloader left on the workload names older content',
};

/** One line per trigger: which source, why it counts, and which rule decided. */
export function describeTrigger(t: Trigger): string {
  return `${t.kind}/${t.name}: ${reasonText[t.reason]}; rule: ${ruleText[t.rule]}`;
}

export function describeReload(reload: Reload): string {
  const how = reload.resume
    ? ' (resumes its paused rollout)'
    : reload.pause
      ? ' (inside its pause period: template updated, rollout held back)'
      : '';
  return `${workloadId(reload.workload)}${how}`;
}

/** The plan as a person reads it: what would roll and why, and what was only recorded. */
export function formatPlan(report: PassReport): string {
  const lines: string[] = [];
  const workloads =
    report.workloads === undefined
      ? 'workloads not listed (nothing changed)'
      : `${report.workloads} workloads in scope`;
  lines.push(
    `${report.sources} ConfigMaps/Secrets and ${workloads}; ` +
      (report.baseline
        ? 'no observed state: this pass records a baseline'
        : `${report.changes.length} changed`),
  );
  if (report.stateProblem) lines.push(`  ${report.stateProblem}`);
  for (const change of report.changes) {
    lines.push(`  changed: ${change.namespace}/${change.kind}/${change.name} (${change.type})`);
  }
  for (const { change } of report.webhooks) {
    lines.push(`post the webhook for ${change.namespace}/${change.kind}/${change.name}`);
  }
  if (report.plan.reloads.length === 0) lines.push('nothing to reload');
  for (const reload of report.plan.reloads) {
    lines.push(`reload ${describeReload(reload)}`);
    for (const trigger of reload.triggers) lines.push(`  because ${describeTrigger(trigger)}`);
  }
  for (const warning of report.plan.warnings) lines.push(`warning: ${warning}`);
  return lines.join('\n');
}
