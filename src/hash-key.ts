import { randomBytes } from 'node:crypto';
import { readOptional, resourcePath, resources, type Api } from './api.js';
import { statusOf } from './errors.js';

const field = 'key';

/**
 * The key of the keyed hashes, kept in a Secret of the reloader's own namespace so that losing
 * the state does not lose it. Created on first use; a dry run never creates it and hashes with a
 * throwaway key instead (a dry run without a key has no state to compare with anyway).
 */
export async function loadHashKey(
  api: Api,
  namespace: string,
  name: string,
  create: boolean,
): Promise<{ key: Buffer; created: boolean }> {
  const existing = await readKey(api, namespace, name);
  if (existing) return { key: existing, created: false };
  const key = randomBytes(32);
  if (!create) return { key, created: false };
  try {
    await api.request({
      method: 'POST',
      path: resourcePath(resources.secrets, namespace),
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
    const theirs = await readKey(api, namespace, name);
    if (!theirs) throw err;
    return { key: theirs, created: false };
  }
}

async function readKey(api: Api, namespace: string, name: string): Promise<Buffer | undefined> {
  const path = resourcePath(resources.secrets, namespace, name);
  const secret = await readOptional<{ data?: Record<string, string> }>(api, path);
  if (!secret) return undefined;
  const value = secret.data?.[field];
  if (!value) throw new Error(`Secret ${namespace}/${name} has no "${field}" field`);
  return Buffer.from(value, 'base64');
}
