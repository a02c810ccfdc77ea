import type { Api } from '../api.js';
import { message } from '../errors.js';
import type { Logger } from '../log.js';
import type { PassReport } from '../pass.js';
import {
  alertMessage,
  alertedReloads,
  lineSeparator,
  sendAlert,
  type AlertConfig,
} from './alerts.js';
import { reloadEvent, writeEvents, type EventBody } from './events.js';
import { origin } from './http.js';
import type { Metrics } from './metrics.js';
import { pushMetrics, type PushTarget } from './push.js';

/** What became of one scheduled pass, as the runner tells it. */
export type PassResult =
  | { status: 'done'; report: PassReport; durationMs: number; finishedAt: Date }
  | { status: 'failed'; error: string; durationMs: number; finishedAt: Date }
  /** Another instance holds the Lease: no pass ran. */
  | { status: 'standby'; finishedAt: Date };

/** What the runner calls after each pass. It never throws: reporting never fails a pass. */
export interface Reporter {
  /**
   * Tells the metrics, writes the Events of the pass's reloads, sends its alert and, in the
   * one-shot mode, pushes the metrics. Resolves once what must be done before the next pass is;
   * an alert may still be in flight (see `close`).
   */
  afterPass(result: PassResult): Promise<void>;
  /** Waits for the alerts still in flight (each ends by its time-out). */
  close(): Promise<void>;
}

/** The parts a reporter is made of; each is optional. */
export interface ReporterParts {
  log: Logger;
  /** None in a --once run that pushes nothing: nothing would read them. */
  metrics?: Metrics | undefined;
  /** Kubernetes Events, written by `instance` (not in --dry-run). */
  events?: { api: Api; instance: string } | undefined;
  alerts?: AlertConfig | undefined;
  /** The one-shot mode's Pushgateway; the push waits for the alert, to count it. */
  push?: PushTarget | undefined;
  /** The longest an alert or a push may take, and all the Events of a pass together. */
  timeoutMs: number;
}

/** A reporter that tells nothing. */
export const silentReporter: Reporter = {
  afterPass: () => Promise.resolve(),
  close: () => Promise.resolve(),
};

/** Builds the reporter of the process. */
export function createReporter(parts: ReporterParts): Reporter {
  const inFlight = new Set<Promise<void>>();
  let sequence = 0;

  const events = async (report: PassReport, now: Date): Promise<void> => {
    if (!parts.events) return;
    const { api, instance } = parts.events;
    const bodies = report.outcomes
      .map((entry) => reloadEvent(entry, { now, instance, sequence: sequence++ }))
      .filter((e): e is EventBody => e !== undefined);
    if (bodies.length === 0) return;
    const tally = await writeEvents(api, bodies, parts.timeoutMs, (text) => {
      parts.log.warn(text);
    });
    parts.metrics?.recordEvents(tally.written, tally.failed);
  };

  const alert = (report: PassReport): Promise<void> | undefined => {
    const config = parts.alerts;
    if (!config) return undefined;
    const text = alertMessage(
      alertedReloads(report.outcomes),
      config.additionalInfo,
      lineSeparator(config.sink),
    );
    if (text === undefined) return undefined;
    const sending = sendAlert(config, text, parts.timeoutMs).then(
      () => {
        parts.metrics?.recordAlert(true);
      },
      (err: unknown) => {
        parts.metrics?.recordAlert(false);
        parts.log.warn(
          `alert to ${config.sink} at ${origin(config.url)} not sent: ${message(err)}`,
        );
      },
    );
    inFlight.add(sending);
    void sending.finally(() => inFlight.delete(sending));
    return sending;
  };

  const push = async (): Promise<void> => {
    const { push: target, metrics } = parts;
    if (!target || !metrics) return;
    try {
      const text = await metrics.text();
      await pushMetrics(
        target,
        { text, contentType: metrics.contentType, succeeded: metrics.anySuccess },
        parts.timeoutMs,
      );
    } catch (err) {
      parts.log.warn(`metrics not pushed to the Pushgateway: ${message(err)}`);
    }
  };

  return {
    async afterPass(result) {
      try {
        parts.metrics?.recordPass(result);
        if (result.status === 'done') {
          await events(result.report, result.finishedAt);
          const sending = alert(result.report);
          if (parts.push) await sending;
        }
      } catch (err) {
        parts.log.warn(`reporting the pass failed: ${message(err)}`);
      }
      await push();
    },
    async close() {
      await Promise.all(inFlight);
    },
  };
}
