import { randomBytes } from 'node:crypto';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { statusOf } from './kube.js';

const field = 'key';

/**
 * The key of the keyed hashes, kept in a Secret of the reloader's own namespace so that losing
 * the state does not lose it. Created on first use; a dry run never creates it and hashes with a
 * throwaway key instead (a dry run without a key has no state to compare with anyway).
 */
export async function loadHashKey(
  kc: KubeConfig,
  namespace: string,
  name: string,
  create: boolean,
): Promise<{ key: Buffer; created: boolean }> {
  const core = kc.makeApiClient(CoreV1Api);
  const existing = await readKey(core, namespace, name);
  if (existing) return { key: existing, created: false };
  const key = randomBytes(32);
  if (!create) return { key, created: false };
  try {
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name, labels: { 'app.kubernetes.io/managed-by': 'polling-reloader' } },
        type: 'Opaque',
        data: { [field]: key.toString('base64') },
      },
    });
    return { key, created: true };
  } catch (err) {
    // Another instance created it first: use theirs.
    if (statusOf(err) !== 409) throw err;
    const theirs = await readKey(core, namespace, name);
    if (!theirs) throw err;
    return { key: theirs, created: false };
  }
}

async function readKey(
  core: CoreV1Api,
  namespace: string,
  name: string,
): Promise<Buffer | undefined> {
  try {
    const secret = await core.readNamespacedSecret({ name, namespace });
    const value = secret.data?.[field];
    if (!value) throw new Error(`Secret ${namespace}/${name} has no "${field}" field`);
    return Buffer.from(value, 'base64');
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}
