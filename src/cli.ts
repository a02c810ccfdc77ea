#!/usr/bin/env node
import { Command } from 'commander';
import { describeReload, describeTrigger, formatPlan } from './explain.js';
import { checkReachable, loadKubeConfig, UsageError } from './kube.js';
import { createLogger, type Logger } from './log.js';
import { envPrefix, errorOutput, passOptions, runCommand, type RunFlags } from './options.js';
import { runPass, type PassReport } from './pass.js';
import { checkPermissions } from './permissions.js';
import { fileStateStore } from './state.js';

/** Exit codes: 0 done, 1 bad input or unreachable cluster (nothing changed), 3 some reloads failed. */
const exitFailedReloads = 3;

async function run(flags: RunFlags): Promise<number> {
  const log = createLogger(flags.logFormat, flags.logLevel);
  if (!flags.once) {
    throw new UsageError(
      'continuous mode is not available yet: use run --once (for example from a CronJob)',
    );
  }
  const options = passOptions(flags);
  const kc = loadKubeConfig({ kubeconfig: flags.kubeconfig, context: flags.context });
  const version = await checkReachable(kc);
  await checkPermissions(kc, options);
  const store = await fileStateStore(flags.state);
  log.debug(
    { server: kc.getCurrentCluster()?.server, version, state: store.location },
    'connected',
  );
  const report = await runPass({ kc, store, now: () => new Date() }, options);
  if (flags.dryRun) {
    process.stdout.write(`${formatPlan(report)}\n`);
    return 0;
  }
  logReport(log, report);
  return report.outcomes.some((o) => o.outcome.status === 'failed') ? exitFailedReloads : 0;
}

function logReport(log: Logger, report: PassReport): void {
  if (report.stateProblem) log.warn(report.stateProblem);
  for (const warning of report.plan.warnings) log.warn(warning);
  for (const { reload, outcome } of report.outcomes) {
    const because = reload.triggers.map(describeTrigger);
    if (outcome.status === 'failed')
      log.error({ because }, `reload failed, kept pending: ${outcome.error}`);
    else log.info({ because }, `${outcome.status}: ${describeReload(reload)}`);
  }
  if (report.pending.length > 0)
    log.warn({ pending: report.pending }, 'changes kept for the next pass');
  log.info(
    `pass done: ${report.sources} sources, ${report.workloads} workloads, ${report.changes.length} changes, ` +
      `${report.outcomes.length} reloads${report.baseline ? ' (baseline recorded)' : ''}`,
  );
}

const program = new Command('polling-reloader')
  .description(
    'Restarts Kubernetes workloads when the ConfigMaps or Secrets they use change, by polling.',
  )
  .version('0.1.0')
  .showHelpAfterError(false)
  .configureOutput(errorOutput);

program.addCommand(
  runCommand(async (flags) => {
    process.exitCode = await run(flags);
  }),
);

try {
  await program.parseAsync();
} catch (err) {
  const debug =
    process.argv.includes('--log-level=debug') || process.env[`${envPrefix}LOG_LEVEL`] === 'debug';
  const text = err instanceof Error ? err.message : String(err);
  process.stderr.write(`polling-reloader: error: ${text}\n`);
  if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exitCode = 1;
}
