import { Api } from './api.js';
import { message, UsageError } from './errors.js';
import { loadConnection, type ConnectionOptions } from './kubeconfig.js';

export type { ConnectionOptions };

/** The API client for the cluster the options name (see `loadConnection`). */
export function connect(options: ConnectionOptions, env = process.env): Api {
  return new Api(loadConnection(options, env));
}

/** Fails with one line when the API server cannot be reached or does not answer. */
export async function checkReachable(api: Api): Promise<string> {
  try {
    // Two tries with a short time-out: a server that does not answer is reported soon.
    const version = await api.request<{ gitVersion?: string }>({
      path: '/version',
      timeoutMs: 10_000,
      attempts: 2,
    });
    return version.gitVersion ?? 'unknown';
  } catch (err) {
    throw new UsageError(`cannot reach the cluster at ${api.connection.server}: ${message(err)}`, {
      cause: err,
    });
  }
}
