import { message } from './errors.js';
import type { Change } from './model.js';

/** The body Reloader POSTs for every change in its webhook mode (`--webhook-url`). */
export const webhookBody = '{"webhook":"update successful"}';

/**
 * The changes Reloader's webhook mode sends: every content change, a creation only with
 * `--reload-on-create` and a deletion only with `--reload-on-delete` (Reloader does not watch
 * those events otherwise). Workload annotations are not read: no workload is touched.
 */
export function webhookChanges(
  changes: Change[],
  options: { reloadOnCreate: boolean; reloadOnDelete: boolean },
): Change[] {
  // A SecretProviderClass: its updates only, as Reloader drops the creation and deletion of
  // SecretProviderClassPodStatus objects (see csi.ts).
  const spc = (c: Change): boolean => c.kind === 'SecretProviderClass';
  return changes.filter(
    (c) =>
      c.type === 'updated' ||
      (c.type === 'created' && options.reloadOnCreate && !spc(c)) ||
      (c.type === 'deleted' && options.reloadOnDelete && !spc(c)),
  );
}

/** How long a receiver may take to answer one POST. */
export const webhookTimeoutMs = 30_000;

/**
 * POSTs Reloader's webhook body to `url`. Resolves once the receiver answered with a status below
 * 400; throws, with one line, when it did not answer within `timeoutMs` or answered otherwise.
 */
export async function postWebhook(url: string, timeoutMs = webhookTimeoutMs): Promise<void> {
  let status: number;
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: webhookBody,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    status = response.status;
    await response.body?.cancel();
  } catch (err) {
    throw new Error(`webhook not sent: ${message(err)}`, { cause: err });
  }
  if (status >= 400) throw new Error(`webhook refused: HTTP ${status}`);
}
