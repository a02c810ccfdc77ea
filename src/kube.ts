import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig, VersionApi } from '@kubernetes/client-node';

/** A problem that ends the program before it changes anything, with one line to show. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface ConnectionOptions {
  kubeconfig?: string | undefined;
  context?: string | undefined;
}

/**
 * Loads the configuration the way kubectl users expect: `--kubeconfig`, then `KUBECONFIG`, then
 * `~/.kube/config`, then the in-cluster ServiceAccount.
 */
export function loadKubeConfig(options: ConnectionOptions, env = process.env): KubeConfig {
  const kc = new KubeConfig();
  const file = kubeconfigFile(options.kubeconfig ?? env.KUBECONFIG);
  try {
    if (file) kc.loadFromFile(file);
    else if (env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
    else {
      throw new UsageError(
        'no cluster given: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run in a pod',
      );
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`cannot read kubeconfig ${file ?? '(in-cluster)'}: ${message(err)}`, {
      cause: err,
    });
  }
  if (options.context) {
    if (!kc.getContexts().some((c) => c.name === options.context)) {
      throw new UsageError(`context "${options.context}" is not in the kubeconfig`);
    }
    kc.setCurrentContext(options.context);
  }
  if (!kc.getCurrentCluster()) throw new UsageError('the kubeconfig has no current cluster');
  return kc;
}

/** The kubeconfig file to read: the one given (first of a KUBECONFIG list), else ~/.kube/config. */
function kubeconfigFile(given: string | undefined): string | undefined {
  if (given) {
    const first = given.split(':').find((f) => f.length > 0) ?? given;
    if (!existsSync(first)) throw new UsageError(`kubeconfig ${first} does not exist`);
    return first;
  }
  const home = join(homedir(), '.kube', 'config');
  return existsSync(home) ? home : undefined;
}

/** Fails with one line when the API server cannot be reached or does not answer. */
export async function checkReachable(kc: KubeConfig): Promise<string> {
  const server = kc.getCurrentCluster()?.server ?? '(no server)';
  try {
    const version = await kc.makeApiClient(VersionApi).getCode();
    return version.gitVersion;
  } catch (err) {
    throw new UsageError(`cannot reach the cluster at ${server}: ${message(err)}`, { cause: err });
  }
}

/** One page of a list, as every list call returns it. */
export interface Page<T> {
  items: T[];
  metadata?: { _continue?: string | undefined } | undefined;
}

/**
 * Walks a paginated list page by page, so that only one page is held at a time. A continue token
 * that expired (410) fails the list, and with it the pass, which the next pass repeats.
 */
export async function paginate<T>(
  fetch: (token: string | undefined) => Promise<Page<T>>,
  each: (item: T) => void,
): Promise<void> {
  let token: string | undefined;
  do {
    const page = await fetch(token);
    for (const item of page.items) each(item);
    token = page.metadata?._continue || undefined;
  } while (token);
}

/** The HTTP status of an API error, when it has one. */
export function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** A one-line description of an error, without stack or response body dump. */
export function message(err: unknown): string {
  const status = statusOf(err);
  const body = (err as { body?: unknown } | null)?.body;
  const reason = parseReason(body);
  if (status !== undefined) return `HTTP ${status}${reason ? `: ${reason}` : ''}`;
  const cause = (err as { cause?: { code?: string; message?: string } } | null)?.cause;
  const base = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
  return cause?.code ? `${base} (${cause.code})` : base;
}

function parseReason(body: unknown): string | undefined {
  if (typeof body !== 'string') return undefined;
  try {
    const parsed = JSON.parse(body) as { message?: string };
    return parsed.message;
  } catch {
    return body.slice(0, 200);
  }
}
