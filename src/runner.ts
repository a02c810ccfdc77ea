import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import cron from 'node-cron';
import type { Api } from './api.js';
import { notActing, type Outcome } from './apply.js';
import { describeListed, describeReload, describeTrigger, formatPlan } from './explain.js';
import { formatAddress, startHealthServer, type Health, type ListenAddress } from './health.js';
import { fullCollector, majorCollector } from './heap.js';
import { message, UsageError } from './errors.js';
import type { LeaseLock } from './lease.js';
import type { Logger } from './log.js';
import { workloadId } from './model.js';
import { runPass, type PassOptions, type PassReport } from './pass.js';
import type { Reload } from './plan.js';
import { silentReporter, type PassResult, type Reporter } from './reports/reporter.js';
import type { StateStore } from './state.js';

/** Exit codes: 0 done, 1 bad input or unreachable cluster (nothing changed), 3 some reloads failed. */
export const exitFailedReloads = 3;

export interface RunnerDeps {
  api: Api;
  store: StateStore;
  lease: LeaseLock;
  log: Logger;
  options: PassOptions;
  /** A pass makes no request past this long after its start; `/live` fails if it is still going. */
  passTimeoutMs: number;
  /** Told of each pass (metrics, Events, alerts); never in --dry-run. */
  reporter?: Reporter | undefined;
}

/** The long-running mode's HTTP servers: where they listen, and what `/metrics` serves. */
export interface Servers {
  listen: ListenAddress[];
  metrics?: (() => Promise<{ contentType: string; text: string }>) | undefined;
}

/** After SIGTERM, how long the pass in flight may take before the process ends anyway. */
const stopGraceMs = 20_000;

/** When passes run: every interval, or on a cron schedule (an optional seconds field). */
export type Schedule = { intervalMs: number } | { cron: string };

/** One pass under the Lease, then exit: the CronJob mode. A dry run needs no Lease. */
export async function runOnce(deps: RunnerDeps): Promise<number> {
  if (deps.options.dryRun) {
    const report = await pass(
      deps,
      () => true,
      () => true,
    );
    process.stdout.write(`${formatPlan(report)}\n`);
    return 0;
  }
  const reporter = deps.reporter ?? silentReporter;
  const started = Date.now();
  let result: PassResult | undefined;
  try {
    deps.api.deadline = started + deps.passTimeoutMs;
    result = await leasedPass(deps, started);
    return result.status === 'done' ? exitCode(result.report) : 0;
  } catch (err) {
    result = failedPass(err, started);
    throw err;
  } finally {
    deps.api.deadline = undefined;
    // The Lease is released first: another instance need not wait for an alert.
    if (result) await reporter.afterPass(result);
    await reporter.close();
  }
}

/** Takes the Lease, runs one pass and releases the Lease. */
async function leasedPass(deps: RunnerDeps, started: number): Promise<PassResult> {
  if (!(await takeLease(deps, true))) return { status: 'standby', finishedAt: new Date() };
  const stopRenewing = keepRenewed(deps);
  try {
    const holds = (): boolean => deps.lease.holds();
    return donePass(await pass(deps, holds, holds), started);
  } finally {
    await stopRenewing();
    deps.api.deadline = undefined; // the release is due even after a long pass
    await deps.lease.release();
  }
}

function donePass(report: PassReport, started: number): PassResult {
  const finishedAt = new Date();
  return { status: 'done', report, durationMs: finishedAt.getTime() - started, finishedAt };
}

function failedPass(err: unknown, started: number): PassResult {
  const finishedAt = new Date();
  return {
    status: 'failed',
    error: message(err),
    durationMs: finishedAt.getTime() - started,
    finishedAt,
  };
}

/**
 * Passes on a schedule until SIGTERM or SIGINT. With an interval, passes start every interval (a
 * pass longer than that is followed at once by the next); passes never overlap.
 * The Lease is renewed between passes; an instance that cannot renew stops acting before it could
 * expire. On a signal the pass in flight finishes its current patch, saves its state, the Lease is
 * released, and the promise resolves to 0.
 */
export async function runScheduled(
  deps: RunnerDeps,
  schedule: Schedule,
  servers: Servers = { listen: [] },
): Promise<number> {
  // An object, so that the loop below sees what the signal handler sets.
  const run = { stopping: false, ready: false, passStarted: undefined as number | undefined };
  const stuck = (): boolean =>
    run.passStarted !== undefined && Date.now() - run.passStarted > deps.passTimeoutMs + 10_000;
  const probes = await startServers(servers, {
    live: () => !run.stopping && !stuck(),
    ready: () => run.ready,
    metrics: servers.metrics,
  });
  const reporter = deps.reporter ?? silentReporter;
  // The pass's garbage collected as soon as it ends, while nothing else is to do: the resident
  // memory then stays near what the next pass needs, instead of a plateau of uncollected garbage.
  const collect = fullCollector();
  let inFlight: Promise<void> = Promise.resolve();
  const wake = new AbortController();
  const tick = async (): Promise<void> => {
    if (run.stopping) return;
    const started = Date.now();
    let result: PassResult;
    try {
      run.passStarted = started;
      deps.api.deadline = started + deps.passTimeoutMs;
      if (await takeLease(deps)) {
        const holds = (): boolean => deps.lease.holds();
        result = donePass(await pass(deps, () => holds() && !run.stopping, holds), started);
      } else result = { status: 'standby', finishedAt: new Date() };
      run.ready = true;
    } catch (err) {
      deps.log.error(`pass failed, retried on the next: ${message(err)}`);
      result = failedPass(err, started);
    } finally {
      run.passStarted = undefined;
      deps.api.deadline = undefined;
    }
    await reporter.afterPass(result);
    collect();
  };
  const stopRenewing = keepRenewed(deps);
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      if (run.stopping) return;
      run.stopping = true;
      deps.log.info(`${signal}: finishing the pass in flight, then releasing the Lease`);
      wake.abort();
      // Whatever the pass in flight waits for, the process ends; a cut pass loses nothing.
      setTimeout(() => {
        deps.log.warn(`the pass did not finish within ${stopGraceMs} ms of ${signal}: exiting`);
        process.exit(1);
      }, stopGraceMs).unref();
      resolve();
    };
    process.once('SIGTERM', () => {
      stop('SIGTERM');
    });
    process.once('SIGINT', () => {
      stop('SIGINT');
    });
  });
  if ('cron' in schedule) {
    const task = cron.schedule(schedule.cron, () => (inFlight = tick()), {
      noOverlap: true,
      name: 'pass',
    });
    await stopped;
    await task.stop();
  } else {
    while (!run.stopping) {
      const started = Date.now();
      inFlight = tick();
      await inFlight;
      const rest = Math.max(0, started + schedule.intervalMs - Date.now());
      await sleep(rest, undefined, { signal: wake.signal }).catch(() => undefined);
    }
  }
  await stopRenewing();
  await inFlight;
  for (const server of probes) server.close();
  await deps.lease.release();
  await reporter.close();
  deps.log.info('stopped; Lease released');
  return 0;
}

/** The HTTP servers of the long-running mode; one that cannot listen ends the run before a pass. */
async function startServers(servers: Servers, health: Health): Promise<Server[]> {
  const started: Server[] = [];
  try {
    for (const listen of servers.listen) {
      started.push(
        await startHealthServer(listen, health).catch((err: unknown) => {
          throw new UsageError(`cannot serve on ${formatAddress(listen)}: ${message(err)}`);
        }),
      );
    }
  } catch (err) {
    for (const server of started) server.close();
    throw err;
  }
  return started;
}

/**
 * Renews a held Lease every third of its duration, until the returned function is called; that
 * function waits for a renewal in flight, so that a release that follows cannot lose to it.
 */
function keepRenewed(deps: RunnerDeps): () => Promise<void> {
  let renewal: Promise<unknown> = Promise.resolve();
  const timer = setInterval(
    () => {
      if (!deps.lease.holds()) return;
      renewal = deps.lease.acquire().catch((err: unknown) => {
        deps.log.warn(`Lease renewal failed: ${message(err)}`);
      });
    },
    (deps.lease.options.durationSeconds * 1000) / 3,
  );
  return async () => {
    clearInterval(timer);
    await renewal;
  };
}

async function takeLease(deps: RunnerDeps, once = false): Promise<boolean> {
  let got = await deps.lease.acquire();
  if (!got.held && got.skewed && once) {
    // A one-shot run has no earlier observation: it watches the Lease for its duration.
    deps.log.info(
      `Lease holder ${got.holder} runs ahead of this clock: watching whether it renews`,
    );
    await sleep(Math.max(0, got.expiresAt.getTime() - Date.now()) + 100);
    got = await deps.lease.acquire();
  }
  if (got.held) return true;
  const { namespace, name } = deps.lease.options;
  deps.log.info(
    `Lease ${namespace}/${name} is held by ${got.holder} until ${got.expiresAt.toISOString()}: another instance acts, this one does nothing`,
  );
  return false;
}

async function pass(
  deps: RunnerDeps,
  canAct: () => boolean,
  holdsLease: () => boolean,
): Promise<PassReport> {
  const report = await runPass(
    {
      api: deps.api,
      store: deps.store,
      now: () => new Date(),
      canAct,
      holdsLease,
      collect: majorCollector(),
    },
    deps.options,
  );
  if (!deps.options.dryRun) logReport(deps.log, report);
  return report;
}

/** What the batches held back, one line, and each stalled rollout, one warning each. */
function logBatch(log: Logger, batch: PassReport['batch']): void {
  for (const warning of batch.warnings) log.warn(warning);
  if (batch.held.length === 0) return;
  const held = batch.held.map((h) => workloadId(h.reload.workload));
  const why =
    batch.blocking.length > 0
      ? `waiting for ${batch.blocking.map((b) => `${b.id} (${b.health.detail})`).join(', ')}`
      : `batch full (${batch.options.maxPerPass ?? 0} reloads a pass)`;
  log.info({ held }, `${held.length} reloads held back for the next passes: ${why}`);
}

function exitCode(report: PassReport): number {
  const failed =
    report.outcomes.some((o) => o.outcome.status === 'failed') ||
    report.webhooks.some((w) => w.error !== undefined);
  return failed || report.saveError ? exitFailedReloads : 0;
}

function logOutcome(log: Logger, reload: Reload, outcome: Outcome): void {
  const because = reload.triggers.map(describeTrigger);
  if (outcome.status === 'failed') {
    log.error({ because }, `reload failed, kept pending: ${outcome.error}`);
    return;
  }
  const job = outcome.job ? `, started Job ${outcome.job}` : '';
  log.info({ because }, `${outcome.status}: ${describeReload(reload)}${job}`);
}

function logReport(log: Logger, report: PassReport): void {
  if (report.stateProblem) log.warn(report.stateProblem);
  for (const warning of report.plan.warnings) log.warn(warning);
  logBatch(log, report.batch);
  const done = report.outcomes.filter((o) => o.outcome !== notActing);
  for (const { reload, outcome } of done) logOutcome(log, reload, outcome);
  for (const { change, error } of report.webhooks) {
    const what = `${change.namespace}/${change.kind}/${change.name} (${change.type})`;
    if (error) log.error(`webhook for ${what} failed, kept pending: ${error}`);
    else log.info(`webhook sent for ${what}`);
  }
  const left = report.outcomes.length - done.length;
  if (left > 0) log.warn(`${left} reloads left for the next pass: ${notActing.error}`);
  if (report.pending.length > 0)
    log.warn({ pending: report.pending }, 'changes kept for the next pass');
  if (report.saveError) log.error(`${report.saveError}; the next pass sees its changes again`);
  log.info(
    { api: report.api },
    `pass done: ${report.sources} sources, ${describeListed(report)}, ${report.changes.length} changes, ` +
      `${done.length} reloads${report.baseline ? ' (baseline recorded)' : ''}`,
  );
}
