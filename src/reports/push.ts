import { origin, send } from './http.js';

/** Where one-shot runs push their metrics: a Pushgateway, a job name and a grouping key. */
export interface PushTarget {
  /** `--pushgateway-url`: the Pushgateway's base URL (credentials in it go in a header). */
  url: URL;
  job: string;
  /** Labels that tell this reloader's pushes from another's (its Lease). */
  grouping: Record<string, string>;
}

/**
 * One path segment of a grouping key: `name/value`, or `name@base64/…` (URL-safe base64) for a
 * value the path cannot hold as it is (empty, or with a slash), as the Pushgateway defines it.
 */
function segment(name: string, value: string): string {
  if (value === '' || value.includes('/'))
    return `${name}@base64/${Buffer.from(value).toString('base64url') || '='}`;
  return `${name}/${encodeURIComponent(value)}`;
}

/** The URL of the group: `<base>/metrics/job/<job>/<label>/<value>…`. */
export function pushUrl(target: PushTarget): URL {
  const url = new URL(target.url.href);
  const parts = [segment('job', target.job)];
  for (const [name, value] of Object.entries(target.grouping)) parts.push(segment(name, value));
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/metrics/${parts.join('/')}`;
  url.search = '';
  return url;
}

/**
 * Pushes the metrics of a run. A run whose pass succeeded replaces its group (PUT); one that did
 * not only replaces the metrics it pushes (POST), so that the group keeps the time of the last
 * successful pass. Rejects with a reason fit for a log line.
 */
export async function pushMetrics(
  target: PushTarget,
  metrics: { text: string; contentType: string; succeeded: boolean },
  timeoutMs: number,
): Promise<void> {
  const url = pushUrl(target);
  const answer = await send({
    method: metrics.succeeded ? 'PUT' : 'POST',
    url,
    headers: { 'Content-Type': metrics.contentType },
    body: metrics.text,
    timeoutMs,
  });
  if (answer.status < 200 || answer.status >= 300) {
    const why = answer.body.trim().split('\n')[0]?.slice(0, 200);
    throw new Error(`${origin(url)} answered HTTP ${answer.status}${why ? `: ${why}` : ''}`);
  }
}
