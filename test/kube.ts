import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

/**
 * The admin kubeconfig of the control plane that `scripts/test-integration` started. Integration
 * tests never skip: without a control plane they fail and say how to get one.
 */
export function adminKubeConfig(): KubeConfig {
  const path = process.env.TEST_KUBECONFIG;
  if (!path) {
    throw new Error(
      'TEST_KUBECONFIG is not set: run integration tests with `npm run test:integration`, which starts the control plane',
    );
  }
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/** Creates a namespace of its own for one test and deletes it when the test ends. */
export async function testNamespace(t: TestContext, kc: KubeConfig, prefix = 't'): Promise<string> {
  const core = kc.makeApiClient(CoreV1Api);
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name } } });
  t.after(async () => {
    await core.deleteNamespace({ name }).catch(() => undefined);
  });
  return name;
}

/**
 * Polls `probe` until it returns a value other than undefined, and fails with `what` and the last
 * error after `timeoutMs`.
 */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  const reason = last instanceof Error ? `: ${last.message}` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${reason}`);
}
