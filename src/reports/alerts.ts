import type { Outcome } from '../apply.js';
import { reloaderTypeName, type SourceKind } from '../references.js';
import type { Reload } from '../plan.js';
import { origin, send, type HttpCall } from './http.js';

/** The sinks Reloader knows (`ALERT_SINK`); any other value is sent as `raw`, as Reloader does. */
export const alertSinks = ['slack', 'teams', 'gchat', 'raw'] as const;
export type AlertSink = (typeof alertSinks)[number];

/** Reloader's alert settings, read from its environment variables. */
export interface AlertConfig {
  sink: AlertSink;
  /** `ALERT_WEBHOOK_URL`: it holds a token, so it is never logged (only its origin). */
  url: URL;
  /** `ALERT_WEBHOOK_PROXY`: an `http://` proxy. */
  proxy: URL | undefined;
  /** `ALERT_ADDITIONAL_INFO`: put before the message (a cluster's name, say). */
  additionalInfo: string | undefined;
}

/**
 * Reads `ALERT_ON_RELOAD`, `ALERT_SINK`, `ALERT_WEBHOOK_URL`, `ALERT_WEBHOOK_PROXY` and
 * `ALERT_ADDITIONAL_INFO` as Reloader reads them. Alerts are on only when `ALERT_ON_RELOAD` is
 * `true`; then a missing or unusable URL or proxy turns them off with a problem to log, since a
 * sink that cannot work never stops the reloads.
 */
export function alertConfig(env: Record<string, string | undefined>): {
  config?: AlertConfig;
  problem?: string;
} {
  if (env.ALERT_ON_RELOAD?.trim() !== 'true') return {};
  const webhook = webhookOf(env);
  if ('problem' in webhook) return webhook;
  const sinkName = env.ALERT_SINK?.trim().toLowerCase() ?? '';
  const sink = alertSinks.find((s) => s === sinkName) ?? 'raw';
  const additionalInfo = env.ALERT_ADDITIONAL_INFO?.trim() || undefined;
  return { config: { sink, ...webhook, additionalInfo } };
}

/** The webhook's URL and its proxy, or why they cannot be used. */
function webhookOf(
  env: Record<string, string | undefined>,
): { url: URL; proxy: URL | undefined } | { problem: string } {
  const raw = env.ALERT_WEBHOOK_URL?.trim();
  if (!raw) return { problem: 'ALERT_ON_RELOAD is true but ALERT_WEBHOOK_URL is not set' };
  const url = httpUrl(raw);
  if (!url) return { problem: 'ALERT_WEBHOOK_URL is not an http:// or https:// URL' };
  const proxyText = env.ALERT_WEBHOOK_PROXY?.trim();
  if (!proxyText) return { url, proxy: undefined };
  const proxy = httpUrl(proxyText);
  if (proxy?.protocol !== 'http:')
    return { problem: 'ALERT_WEBHOOK_PROXY is not an http:// proxy URL' };
  return { url, proxy };
}

function httpUrl(raw: string): URL | undefined {
  try {
    const url = new URL(raw);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}

/** Reloader's name for a source type in its messages. */
const typeName: Record<SourceKind, string> = reloaderTypeName;

/** Past this many reloads, one message names the first ones and counts the rest. */
export const alertLineLimit = 50;

/** One reload in Reloader's words, with polling-reloader's pause and resume. */
function alertLine(reload: Reload): string {
  const { kind, namespace, name } = reload.workload;
  const workload = `*${name}* of type *${kind}* in namespace *${namespace}*`;
  if (reload.triggers.length === 0)
    return `Reloader resumed the rollout of ${workload}: its pause period ended`;
  const sources = reload.triggers.map((t) => `*${t.name}* of type *${typeName[t.kind]}*`);
  const how = reload.pause
    ? ' (its rollout is held back by its pause period)'
    : reload.resume
      ? ' (and resumed its paused rollout)'
      : '';
  return (
    `Reloader detected changes in ${sources.join(', ')} in namespace *${namespace}*. ` +
    `Hence reloaded ${workload}${how}`
  );
}

/** The reloads an alert tells of: those done (patched or re-created), as Reloader alerts on success. */
export function alertedReloads(outcomes: { reload: Reload; outcome: Outcome }[]): Reload[] {
  return outcomes
    .filter((o) => o.outcome.status === 'patched' || o.outcome.status === 'recreated')
    .map((o) => o.reload);
}

/**
 * The text of the one alert of a pass: Reloader's sentence for each reload, one a line, and
 * `ALERT_ADDITIONAL_INFO : ` before it all, as Reloader puts it. Undefined when nothing reloaded.
 */
export function alertMessage(
  reloads: Reload[],
  additionalInfo: string | undefined,
  separator = '\n',
): string | undefined {
  if (reloads.length === 0) return undefined;
  const lines = reloads.slice(0, alertLineLimit).map(alertLine);
  const more = reloads.length - alertLineLimit;
  if (more > 0) lines.push(`…and ${more} more reloads`);
  const text = lines.join(separator);
  return additionalInfo ? `${additionalInfo} : ${text}` : text;
}

/** What is sent to a sink, and which answers mean it was taken. */
export interface AlertRequest {
  contentType: string;
  body: string;
  accepted: (status: number) => boolean;
}

const success = (status: number): boolean => status >= 200 && status < 300;
const exactly200 = (status: number): boolean => status === 200;

/**
 * Each sink's payload as Reloader builds it: Slack's attachment (`color` good, `author_name`
 * Reloader), Teams' and Google Chat's `{"text"}`, and raw text without Reloader's `*` marks.
 * Teams and Google Chat must answer 200, as in Reloader; a redirect is never followed.
 */
export function alertRequest(sink: AlertSink, message: string): AlertRequest {
  const json = 'application/json';
  switch (sink) {
    case 'slack':
      return {
        contentType: json,
        body: JSON.stringify({
          attachments: [{ color: 'good', author_name: 'Reloader', text: message }],
        }),
        accepted: success,
      };
    case 'teams':
    case 'gchat':
      return { contentType: json, body: JSON.stringify({ text: message }), accepted: exactly200 };
    case 'raw':
      return { contentType: 'text/plain', body: message.replaceAll('*', ''), accepted: success };
  }
}

/** Teams shows a single line break as a space: its lines are set apart by an empty one. */
export function lineSeparator(sink: AlertSink): string {
  return sink === 'teams' ? '\n\n' : '\n';
}

/** Sends one alert; rejects with a reason fit for a log line (never the webhook's URL). */
export async function sendAlert(
  config: AlertConfig,
  message: string,
  timeoutMs: number,
): Promise<void> {
  const request = alertRequest(config.sink, message);
  const call: HttpCall = {
    method: 'POST',
    url: config.url,
    headers: { 'Content-Type': request.contentType },
    body: request.body,
    timeoutMs,
    proxy: config.proxy,
  };
  const answer = await send(call);
  if (!request.accepted(answer.status)) {
    const redirect = answer.status >= 300 && answer.status < 400 ? ' (redirects are refused)' : '';
    throw new Error(`${origin(config.url)} answered HTTP ${answer.status}${redirect}`);
  }
}
