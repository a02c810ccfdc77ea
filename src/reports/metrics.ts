import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { notActing, type Outcome } from '../apply.js';
import type { ApiStats } from '../api.js';
import type { PassResult } from './reporter.js';

/** How a pass ended, as the metrics label it. */
export type PassLabel = 'success' | 'failed' | 'standby';

/** What became of one reload, as the metrics label it: its status, or `not-applied`. */
export type OutcomeLabel = Outcome['status'] | 'not-applied';

/** What one pass adds to the metrics: computed from its result alone, no I/O. */
export interface PassFigures {
  result: PassLabel;
  /** Undefined for an instance on standby (no pass ran). */
  durationSeconds: number | undefined;
  /** Seconds since the epoch at the end of a successful pass. */
  succeededAt: number | undefined;
  sources: number | undefined;
  workloads: number | undefined;
  pending: number | undefined;
  /** `kind|type` (ConfigMap|updated, say) to the number of such changes. */
  changes: Map<string, number>;
  /** `namespace|kind|outcome` to a number of reloads. */
  reloads: Map<string, number>;
  /** Workloads listed, and matched for a reload, by kind. */
  scanned: Map<string, number>;
  matched: Map<string, number>;
  api: ApiStats | undefined;
}

/**
 * A pass succeeded when it ran to its end and its state is saved (or had nothing to save): a
 * failed reload does not make it fail (the reloads say so), a state not saved does.
 */
export function passLabel(result: PassResult): PassLabel {
  if (result.status === 'standby') return 'standby';
  if (result.status === 'failed' || result.report.saveError) return 'failed';
  return 'success';
}

function outcomeLabel(outcome: Outcome): OutcomeLabel {
  return outcome === notActing ? 'not-applied' : outcome.status;
}

function count(map: Map<string, number>, key: string, n = 1): void {
  map.set(key, (map.get(key) ?? 0) + n);
}

/** The figures of one pass (pure: the caller applies them). */
export function passFigures(result: PassResult): PassFigures {
  const label = passLabel(result);
  const figures: PassFigures = {
    result: label,
    durationSeconds: result.status === 'standby' ? undefined : result.durationMs / 1000,
    succeededAt: label === 'success' ? result.finishedAt.getTime() / 1000 : undefined,
    sources: undefined,
    workloads: undefined,
    pending: undefined,
    changes: new Map(),
    reloads: new Map(),
    scanned: new Map(),
    matched: new Map(),
    api: undefined,
  };
  if (result.status !== 'done') return figures;
  const { report } = result;
  figures.sources = report.sources;
  figures.workloads = report.workloads;
  figures.pending = report.pending.length;
  figures.api = report.api;
  for (const c of report.changes) count(figures.changes, `${c.kind}|${c.type}`);
  for (const { reload, outcome } of report.outcomes) {
    const { namespace, kind } = reload.workload;
    count(figures.reloads, `${namespace}|${kind}|${outcomeLabel(outcome)}`);
  }
  for (const [kind, n] of Object.entries(report.workloadsByKind)) count(figures.scanned, kind, n);
  for (const reload of report.plan.reloads) count(figures.matched, reload.workload.kind);
  return figures;
}

/** Whether a reload was executed, and with which success, in Reloader's sense. */
export function executed(outcome: OutcomeLabel): 'true' | 'false' | undefined {
  if (outcome === 'patched' || outcome === 'recreated') return 'true';
  return outcome === 'failed' ? 'false' : undefined;
}

export interface MetricsOptions {
  /** `METRICS_COUNT_BY_NAMESPACE=enabled`: Reloader's `reloader_reload_executed_total_by_namespace`. */
  countByNamespace: boolean;
  /** Node.js's process metrics (`process_*`, `nodejs_*`): for the long-running mode. */
  processMetrics: boolean;
  /** Whether this instance holds the Lease now, asked at each scrape. */
  leaseHeld: () => boolean;
}

const passBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** Reloader's metrics, where they mean something for a poller. */
function reloaderMetrics(registry: Registry, countByNamespace: boolean) {
  const registers = [registry];
  const executed = new Counter({
    name: 'reloader_reload_executed_total',
    help: 'Counter of reloads executed by Reloader.',
    labelNames: ['success'] as const,
    registers,
  });
  executed.inc({ success: 'true' }, 0);
  executed.inc({ success: 'false' }, 0);
  return {
    executed,
    byNamespace: countByNamespace
      ? new Counter({
          name: 'reloader_reload_executed_total_by_namespace',
          help: 'Counter of reloads executed by Reloader by namespace.',
          labelNames: ['success', 'namespace'] as const,
          registers,
        })
      : undefined,
    action: new Counter({
      name: 'reloader_action_total',
      help: 'Total number of reload actions by workload kind and result.',
      labelNames: ['workload_kind', 'result'] as const,
      registers,
    }),
    scanned: new Counter({
      name: 'reloader_workloads_scanned_total',
      help: 'Total number of workloads scanned by kind.',
      labelNames: ['kind'] as const,
      registers,
    }),
    matched: new Counter({
      name: 'reloader_workloads_matched_total',
      help: 'Total number of workloads matched for reload by kind.',
      labelNames: ['kind'] as const,
      registers,
    }),
  };
}

/** polling-reloader's own metrics: its passes, what they saw, and what they cost. */
function passMetrics(registry: Registry) {
  const registers = [registry];
  const gauge = (name: string, help: string): Gauge => new Gauge({ name, help, registers });
  const counter = (name: string, help: string): Counter => new Counter({ name, help, registers });
  return {
    passes: new Counter({
      name: 'polling_reloader_passes_total',
      help: 'Passes by result: success (ran to its end, state saved), failed, standby (another instance holds the Lease).',
      labelNames: ['result'] as const,
      registers,
    }),
    duration: new Histogram({
      name: 'polling_reloader_pass_duration_seconds',
      help: 'How long passes took, by result.',
      labelNames: ['result'] as const,
      buckets: passBuckets,
      registers,
    }),
    sources: gauge(
      'polling_reloader_sources',
      'ConfigMaps and Secrets (and SecretProviderClasses, with --enable-csi-integration) in scope at the last pass.',
    ),
    workloads: gauge(
      'polling_reloader_workloads',
      'Workloads listed by the last pass that listed any: all in scope on a baseline, else those of the namespaces of its changes and pending reloads (a pass with neither lists none).',
    ),
    pending: gauge(
      'polling_reloader_pending_changes',
      'Changes kept for the next pass because a reload they triggered failed.',
    ),
    changes: new Counter({
      name: 'polling_reloader_changes_total',
      help: 'Changes of sources seen, by kind (ConfigMap, Secret, SecretProviderClass) and type (updated, created, deleted).',
      labelNames: ['kind', 'type'] as const,
      registers,
    }),
    reloads: new Counter({
      name: 'polling_reloader_reloads_total',
      help: 'Reloads by namespace, workload kind and outcome (patched, recreated, already-done, finished-job, failed, not-applied).',
      labelNames: ['namespace', 'workload_kind', 'outcome'] as const,
      registers,
    }),
    apiRequests: counter('polling_reloader_api_requests_total', 'Requests sent to the API server.'),
    apiBytes: counter(
      'polling_reloader_api_read_bytes_total',
      'Bytes read from the API server, as received (compressed).',
    ),
    apiConnections: counter(
      'polling_reloader_api_connections_total',
      'Connections opened to the API server.',
    ),
    lastRequests: gauge(
      'polling_reloader_last_pass_api_requests',
      'Requests sent to the API server by the last pass.',
    ),
    lastBytes: gauge(
      'polling_reloader_last_pass_api_read_bytes',
      'Bytes read from the API server by the last pass.',
    ),
    events: new Counter({
      name: 'polling_reloader_events_total',
      help: 'Kubernetes Events about reloads, by result (written, failed).',
      labelNames: ['result'] as const,
      registers,
    }),
    alerts: new Counter({
      name: 'polling_reloader_alerts_total',
      help: 'Reload alerts (one a pass that reloaded), by result (sent, failed).',
      labelNames: ['result'] as const,
      registers,
    }),
  };
}

/**
 * The metrics of the process, in Prometheus's text format. The time of the last successful pass
 * is kept apart: a run that did not succeed pushes everything but it, so that the Pushgateway
 * keeps the time of the last one that did.
 */
export class Metrics {
  private readonly registry = new Registry();
  private readonly successRegistry = new Registry();
  private readonly reloader: ReturnType<typeof reloaderMetrics>;
  private readonly own: ReturnType<typeof passMetrics>;
  private readonly lastSuccess: Gauge;
  private succeeded = false;

  constructor(options: MetricsOptions) {
    this.reloader = reloaderMetrics(this.registry, options.countByNamespace);
    this.own = passMetrics(this.registry);
    for (const result of ['success', 'failed', 'standby']) this.own.passes.inc({ result }, 0);
    for (const result of ['written', 'failed']) this.own.events.inc({ result }, 0);
    for (const result of ['sent', 'failed']) this.own.alerts.inc({ result }, 0);
    this.lastSuccess = new Gauge({
      name: 'polling_reloader_last_success_timestamp_seconds',
      help: 'When the last successful pass ended, in seconds since the epoch.',
      registers: [this.successRegistry],
    });
    new Gauge({
      name: 'polling_reloader_lease_held',
      help: 'Whether this instance holds the Lease (1) or not (0).',
      registers: [this.registry],
      collect() {
        this.set(options.leaseHeld() ? 1 : 0);
      },
    });
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** Adds one pass. */
  recordPass(result: PassResult): void {
    const f = passFigures(result);
    this.own.passes.inc({ result: f.result });
    if (f.durationSeconds !== undefined)
      this.own.duration.observe({ result: f.result }, f.durationSeconds);
    if (f.succeededAt !== undefined) {
      this.lastSuccess.set(f.succeededAt);
      this.succeeded = true;
    }
    if (f.sources !== undefined) this.own.sources.set(f.sources);
    if (f.workloads !== undefined) this.own.workloads.set(f.workloads);
    if (f.pending !== undefined) this.own.pending.set(f.pending);
    for (const [key, n] of f.changes) {
      const [kind = '', type = ''] = key.split('|');
      this.own.changes.inc({ kind, type }, n);
    }
    this.recordReloads(f.reloads);
    for (const [kind, n] of f.scanned) this.reloader.scanned.inc({ kind }, n);
    for (const [kind, n] of f.matched) this.reloader.matched.inc({ kind }, n);
    if (f.api) this.recordApi(f.api);
  }

  private recordReloads(reloads: Map<string, number>): void {
    for (const [key, n] of reloads) {
      const [namespace = '', kind = '', outcome = ''] = key.split('|');
      this.own.reloads.inc({ namespace, workload_kind: kind, outcome }, n);
      const success = executed(outcome as OutcomeLabel);
      if (success === undefined) continue;
      this.reloader.executed.inc({ success }, n);
      this.reloader.byNamespace?.inc({ success, namespace }, n);
      const result = success === 'true' ? 'success' : 'error';
      this.reloader.action.inc({ workload_kind: kind, result }, n);
    }
  }

  private recordApi(api: ApiStats): void {
    this.own.apiRequests.inc(api.requests);
    this.own.apiBytes.inc(api.bytesRead);
    this.own.apiConnections.inc(api.connections);
    this.own.lastRequests.set(api.requests);
    this.own.lastBytes.set(api.bytesRead);
  }

  /** Adds the Events of one pass. */
  recordEvents(written: number, failed: number): void {
    this.own.events.inc({ result: 'written' }, written);
    this.own.events.inc({ result: 'failed' }, failed);
  }

  /** Adds one alert. */
  recordAlert(sent: boolean): void {
    this.own.alerts.inc({ result: sent ? 'sent' : 'failed' });
  }

  /** The content type of `text()`. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * Every metric, as a scrape reads them. The time of the last successful pass is there once a
   * pass of this process succeeded: a one-shot run that did not succeed leaves it out, so that a
   * push leaves the one of the last run that did.
   */
  async text(): Promise<string> {
    const main = await this.registry.metrics();
    return this.succeeded ? `${main}${await this.successRegistry.metrics()}` : main;
  }

  /** Whether a pass of this process succeeded. */
  get anySuccess(): boolean {
    return this.succeeded;
  }
}
