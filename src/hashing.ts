import { createHash, createHmac } from 'node:crypto';
import objectHash from 'object-hash';
import type { ContentKind } from './references.js';

/**
 * A short digest of a workload's reload record (keyed hashes by source key): the value of the
 * held-back label (a label value holds at most 63 characters). The hashes are keyed already, so a
 * plain SHA-256 reveals nothing, and a record made with another key never matches.
 */
export function recordDigest(record: Record<string, string>): string {
  const sorted = Object.keys(record)
    .sort()
    .map((key) => [key, record[key]]);
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex').slice(0, 40);
}

/** The content of a ConfigMap or Secret that counts as a change: never labels or annotations. */
export interface SourceContent {
  data?: Record<string, string> | undefined;
  binaryData?: Record<string, string> | undefined;
  type?: string | undefined;
}

/**
 * Keyed content hashes. Every hash polling-reloader writes (state, annotations, env vars, logs)
 * comes from here, so that nobody who reads them can confirm a guess of a Secret's value.
 */
export class Hasher {
  /** A short, non-secret fingerprint of the key, stored beside hashes so a new key is noticed. */
  readonly keyId: string;

  constructor(private readonly key: Buffer) {
    if (key.length < 16) throw new Error('the hash key must be at least 16 bytes');
    this.keyId = this.mac('polling-reloader key id').slice(0, 12);
  }

  /** The keyed hash of one object's content. */
  hash(kind: ContentKind, content: SourceContent): string {
    // object-hash wants plain data: copy the maps out of the client's model instances.
    const plain =
      kind === 'Secret'
        ? { data: { ...content.data }, type: content.type ?? '' }
        : { data: { ...content.data }, binaryData: { ...content.binaryData } };
    const digest = objectHash(plain, { algorithm: 'sha256', unorderedObjects: true });
    return this.mac(`${kind}:${digest}`).slice(0, 40);
  }

  /**
   * The keyed hash of a SecretProviderClassPodStatus's content (`podStatusContent` in csi.ts): the
   * hash of its SecretProviderClass as one pod mounts it.
   */
  hashPodStatus(content: string): string {
    const digest = createHash('sha256').update(content).digest('hex');
    return this.mac(`SecretProviderClass:${digest}`).slice(0, 40);
  }

  private mac(text: string): string {
    return createHmac('sha256', this.key).update(text).digest('hex');
  }
}
