#!/usr/bin/env node
import { Command } from 'commander';
import { UsageError } from './errors.js';
import { checkReachable, connect } from './kube.js';
import { leaseIdentity, LeaseLock } from './lease.js';
import type { Api } from './api.js';
import { keepYoungGenerationSmall } from './heap.js';
import { createLogger, type Logger } from './log.js';
import {
  envPrefix,
  errorOutput,
  passOptions,
  runCommand,
  singleNamespace,
  startupWarnings,
  type RunFlags,
} from './options.js';
import { checkPermissions } from './permissions.js';
import { checkPodStatusApi } from './sources.js';
import { runOnce, runScheduled, type RunnerDeps } from './runner.js';
import { openStateStore, parseConfigMapLocation } from './configmap-state.js';
import { alertConfig, type AlertConfig } from './reports/alerts.js';
import type { Metrics } from './reports/metrics.js';
import type { PushTarget } from './reports/push.js';
import { createReporter } from './reports/reporter.js';

async function run(flags: RunFlags): Promise<number> {
  if (flags.once && flags.schedule) throw new UsageError('--schedule makes no sense with --once');
  keepYoungGenerationSmall();
  const api = connect({ kubeconfig: flags.kubeconfig, context: flags.context });
  try {
    return await runWith(api, flags);
  } finally {
    api.close();
  }
}

async function runWith(api: Api, flags: RunFlags): Promise<number> {
  const log = await createLogger(flags.logFormat, flags.logLevel);
  for (const warning of startupWarnings(flags)) log.warn(warning);
  const single = singleNamespace(flags);
  if (single) log.info(`KUBERNETES_NAMESPACE is set: namespace ${single} only`);
  const options = passOptions(flags);
  const version = await checkReachable(api);
  await checkPodStatusApi(api, options.scope.csiIntegration === true);
  await checkPermissions(api, options, parseConfigMapLocation(flags.state)?.namespace);
  const store = await openStateStore(api, flags.state, flags.dryRun);
  const lease = new LeaseLock(api, {
    name: flags.leaseName,
    namespace: flags.leaseNamespace,
    durationSeconds: Math.ceil(flags.leaseDuration / 1000),
    identity: leaseIdentity(),
  });
  log.debug({ server: api.connection.server, version, state: store.location }, 'connected');
  const once = flags.once || flags.dryRun;
  const metrics = await metricsFor(flags, once, lease);
  const reporter = createReporter({
    log,
    metrics,
    events: { api, instance: lease.options.identity },
    alerts: alerts(log),
    push: once ? pushTarget(flags) : undefined,
    timeoutMs: flags.reportTimeout,
  });
  const deps = { api, store, lease, log, options, passTimeoutMs: flags.passTimeout, reporter };
  if (once) return runOnce(deps);
  return runLongRunning(deps, flags, metrics);
}

/**
 * The metrics, where something reads them: served in the long-running mode, pushed after a --once
 * pass. prom-client is loaded only then: it was an eighth of the time `run --once` took to load.
 */
async function metricsFor(
  flags: RunFlags,
  once: boolean,
  lease: LeaseLock,
): Promise<Metrics | undefined> {
  if (once && !flags.pushgatewayUrl) return undefined;
  const { Metrics } = await import('./reports/metrics.js');
  return new Metrics({
    countByNamespace: process.env.METRICS_COUNT_BY_NAMESPACE === 'enabled',
    processMetrics: !once,
    leaseHeld: () => lease.holds(),
  });
}

async function runLongRunning(
  deps: RunnerDeps,
  flags: RunFlags,
  metrics: Metrics | undefined,
): Promise<number> {
  const { log, lease } = deps;
  if (flags.pushgatewayUrl) log.warn('--pushgateway-url is for --once: the metrics are served');
  const schedule = flags.schedule ? { cron: flags.schedule } : { intervalMs: flags.interval };
  log.info(
    `long-running mode: ${flags.schedule ? `schedule "${flags.schedule}"` : `every ${flags.interval} ms`}, ` +
      `Lease ${flags.leaseNamespace}/${flags.leaseName} as ${lease.options.identity}`,
  );
  const listen = [
    ...(flags.metricsAddress ? [flags.metricsAddress] : []),
    ...(flags.healthPort ? [{ port: flags.healthPort, host: flags.healthAddress }] : []),
  ];
  const text =
    metrics && (async () => ({ contentType: metrics.contentType, text: await metrics.text() }));
  return runScheduled(deps, schedule, { listen, metrics: text });
}

/** Reloader's alert variables; a setting that cannot work is one warning, and no alerts. */
function alerts(log: Logger): AlertConfig | undefined {
  const { config, problem } = alertConfig(process.env);
  if (problem) log.warn(`reload alerts are off: ${problem}`);
  return config;
}

/** The Pushgateway group of this reloader: one per Lease, as one Lease is one reloader. */
function pushTarget(flags: RunFlags): PushTarget | undefined {
  if (!flags.pushgatewayUrl) return undefined;
  return {
    url: flags.pushgatewayUrl,
    job: 'polling-reloader',
    grouping: { lease: `${flags.leaseNamespace}/${flags.leaseName}` },
  };
}

const program = new Command('polling-reloader')
  .description(
    'Restarts Kubernetes workloads when the ConfigMaps or Secrets they use change, by polling.\n' +
      'With no command, runs `run` with the flags given (as Reloader is run).',
  )
  .version('0.1.0')
  .showHelpAfterError(false)
  .configureOutput(errorOutput);

// With no command, `run`: an image, chart or manifest written for Reloader's `reloader [flags]`
// works as it is (SPEC §7).
program.addCommand(
  runCommand(async (flags) => {
    process.exitCode = await run(flags);
  }),
  { isDefault: true },
);

/** The log level the command line (or its environment variable) asks for, read as commander does. */
function logLevelAsked(argv: string[]): string | undefined {
  let level = process.env[`${envPrefix}LOG_LEVEL`];
  argv.forEach((arg, i) => {
    if (arg === '--log-level') level = argv[i + 1];
    else if (arg.startsWith('--log-level=')) level = arg.slice('--log-level='.length);
  });
  return level;
}

try {
  await program.parseAsync();
} catch (err) {
  // Levels are read in any case, as the flag's own parser does (logrus' `DEBUG` included).
  const debug = ['debug', 'trace'].includes(logLevelAsked(process.argv)?.toLowerCase() ?? '');
  const text = err instanceof Error ? err.message : String(err);
  process.stderr.write(`polling-reloader: error: ${text}\n`);
  if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exitCode = 1;
}
