import { randomBytes } from 'node:crypto';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { readOptional, resourcePath, resources, type Api } from './api.js';
import { statusOf, UsageError } from './errors.js';
import { LastRead } from './last-read.js';
import { stateFingerprint, type StatePeek } from './fingerprint.js';
import {
  fileStateStore,
  LowStateStore,
  peekOf,
  UnreadableState,
  type StateAdapter,
  type StateData,
  type StateStore,
} from './state.js';
import { stateText } from './state-text.js';

/** Below the 1 MiB object limit, with room for metadata. */
const defaultChunkBytes = 900_000;
const managedBy = { 'app.kubernetes.io/managed-by': 'polling-reloader' };

/** `configmap:NAMESPACE/NAME`, or undefined for a file path. */
export function parseConfigMapLocation(
  state: string,
): { namespace: string; name: string } | undefined {
  if (!state.startsWith('configmap:')) return undefined;
  const match = /^configmap:([a-z0-9-]+)\/([a-z0-9.-]+)$/.exec(state);
  if (!match?.[1] || !match[2]) {
    throw new UsageError(`--state ${state}: use configmap:NAMESPACE/NAME (lower-case DNS names)`);
  }
  return { namespace: match[1], name: match[2] };
}

/**
 * The state kept in ConfigMaps, so that a CronJob needs no volume. The head ConfigMap NAME holds a
 * generation and the number of parts; the parts live in `NAME-GEN-I`, each under the object size
 * limit. A write creates the new parts first, then swaps the head with a check of the
 * resourceVersion it read (two writers cannot both win), then deletes the old parts, so a reader
 * never mixes two generations.
 */
export class ConfigMapAdapter implements StateAdapter {
  private head: V1ConfigMap | undefined;
  /** The head a peek read, for the read that follows it in the same pass: one GET, not two. */
  private peeked: V1ConfigMap | undefined;
  private readonly last = new LastRead();

  constructor(
    private readonly api: Api,
    readonly namespace: string,
    readonly name: string,
    private readonly chunkBytes = defaultChunkBytes,
  ) {}

  private path(name?: string): string {
    return resourcePath(resources.configMaps, this.namespace, name);
  }

  private create(body: V1ConfigMap): Promise<V1ConfigMap> {
    return this.api.request<V1ConfigMap>({ method: 'POST', path: this.path(), body });
  }

  private async delete(name: string): Promise<void> {
    await this.api.request({ method: 'DELETE', path: this.path(name), idempotent: true });
  }

  async read(): Promise<unknown> {
    this.head = this.peeked ?? (await this.get(this.name));
    this.peeked = undefined;
    if (!this.head) {
      this.last.forget();
      return null;
    }
    // Every write of the state changes the head (a new generation), so its resourceVersion is
    // the version of the whole state: while it stays, the parts need not be read again.
    const version = this.head.metadata?.resourceVersion ?? '';
    const kept = version ? this.last.get(version) : undefined;
    if (kept !== undefined) return kept;
    const { generation, parts } = this.layout(this.head);
    let text = '';
    for (let i = 0; i < parts; i++) {
      const part = await this.get(`${this.name}-${generation}-${i}`);
      if (part?.data?.part === undefined)
        throw new UnreadableState(`part ${i} of generation ${generation} is missing`);
      text += part.data.part;
    }
    const data = JSON.parse(text) as unknown;
    if (version) this.last.remember(version, data);
    return data;
  }

  async write(data: unknown): Promise<void> {
    this.last.forget();
    this.peeked = undefined;
    const generation = randomBytes(4).toString('hex');
    let parts = 0;
    try {
      for (const part of this.parts(data as StateData)) {
        await this.create({
          metadata: { name: `${this.name}-${generation}-${parts}`, labels: managedBy },
          data: { part },
        });
        parts++;
      }
    } catch (err) {
      await this.deleteParts({ generation, parts });
      throw err;
    }
    const old = this.head ? this.layout(this.head) : undefined;
    const body: V1ConfigMap = {
      metadata: {
        name: this.name,
        labels: managedBy,
        resourceVersion: this.head?.metadata?.resourceVersion,
      },
      data: { generation, parts: String(parts), ...headOf(data as StateData) },
    };
    try {
      // The head carries the resourceVersion it read: sending it again is safe.
      this.head = this.head
        ? await this.api.request<V1ConfigMap>({
            method: 'PUT',
            path: this.path(this.name),
            body,
            idempotent: true,
          })
        : await this.create(body);
    } catch (err) {
      await this.deleteParts({ generation, parts });
      if (statusOf(err) === 409)
        throw new Error(
          `state ConfigMap ${this.namespace}/${this.name} was written by another instance`,
          { cause: err },
        );
      throw err;
    }
    // The head's new resourceVersion is the version of what was just written: kept, not read back.
    const version = this.head.metadata?.resourceVersion;
    if (version) this.last.remember(version, data);
    if (old) await this.deleteParts(old);
  }

  /** The head ConfigMap alone: what a pass needs to tell that nothing moved (see fingerprint.ts). */
  async peek(): Promise<StatePeek | undefined> {
    this.peeked = await this.get(this.name);
    return peekOf(this.peeked?.data);
  }

  /** The state's text in parts of `chunkBytes` characters, made as they are written. */
  private *parts(data: StateData): Generator<string> {
    let text = '';
    for (const piece of stateText(data)) {
      text += piece;
      while (text.length >= this.chunkBytes) {
        yield text.slice(0, this.chunkBytes);
        text = text.slice(this.chunkBytes);
      }
    }
    if (text.length > 0) yield text;
  }

  /**
   * Keeps an unreadable state aside under a new name (its parts as `ASIDE-I`), and removes it from
   * the way; the parts go too, or nothing would ever delete them.
   */
  async setAside(): Promise<string> {
    this.last.forget();
    const head = await this.get(this.name);
    const aside = `${this.name}-unreadable-${Date.now()}`;
    const layout = head ? this.knownLayout(head) : undefined;
    for (let i = 0; i < (layout?.parts ?? 0); i++) {
      const part = await this.get(`${this.name}-${layout?.generation ?? ''}-${i}`);
      if (!part) continue;
      await this.create({
        metadata: { name: `${aside}-${i}`, labels: managedBy },
        data: part.data,
      });
    }
    await this.create({ metadata: { name: aside, labels: managedBy }, data: head?.data ?? {} });
    await this.delete(this.name);
    if (layout) await this.deleteParts(layout);
    this.head = undefined;
    return `configmap:${this.namespace}/${aside}`;
  }

  /** The head's layout, or none when it has no valid one (then no part can be named). */
  private knownLayout(head: V1ConfigMap): { generation: string; parts: number } | undefined {
    try {
      return this.layout(head);
    } catch (err) {
      if (err instanceof UnreadableState) return undefined;
      throw err;
    }
  }

  private layout(head: V1ConfigMap): { generation: string; parts: number } {
    const generation = head.data?.generation ?? '';
    const parts = Number(head.data?.parts);
    if (!generation || !Number.isInteger(parts) || parts < 1)
      throw new UnreadableState('the head ConfigMap has no valid layout');
    return { generation, parts };
  }

  private async deleteParts({
    generation,
    parts,
  }: {
    generation: string;
    parts: number;
  }): Promise<void> {
    for (let i = 0; i < parts; i++) {
      await this.delete(`${this.name}-${generation}-${i}`).catch(() => undefined);
    }
  }

  private get(name: string): Promise<V1ConfigMap | undefined> {
    return readOptional<V1ConfigMap>(this.api, this.path(name));
  }
}

/** A state store in ConfigMaps of the cluster. */
export function configMapStateStore(
  api: Api,
  namespace: string,
  name: string,
  { chunkBytes, readOnly = false }: { chunkBytes?: number; readOnly?: boolean } = {},
): StateStore {
  const adapter = new ConfigMapAdapter(api, namespace, name, chunkBytes);
  // The head, its parts (NAME-GEN-I) and what was set aside (NAME-unreadable-TIME[-I]).
  const own = new RegExp(
    `^${name.replace(/\./g, '\\.')}(-[0-9a-f]{8}-\\d+|-unreadable-\\d+(-\\d+)?)?$`,
  );
  return new LowStateStore(`configmap:${namespace}/${name}`, adapter, () => adapter.setAside(), {
    readOnly,
    owns: (o) => o.kind === 'ConfigMap' && o.namespace === namespace && own.test(o.name),
  });
}

/** The store `--state` names: `configmap:NAMESPACE/NAME`, or a file path. */
export async function openStateStore(
  api: Api,
  state: string,
  readOnly = false,
): Promise<StateStore> {
  if (!state.trim())
    throw new UsageError('--state is empty: give a file path or configmap:NS/NAME');
  const location = parseConfigMapLocation(state);
  return location
    ? configMapStateStore(api, location.namespace, location.name, { readOnly })
    : fileStateStore(state, readOnly);
}

/** What the head ConfigMap says of the state besides its layout: see `peek`. */
function headOf(data: StateData): Record<string, string> {
  const fingerprint = stateFingerprint(data);
  return fingerprint ? { keyId: data.keyId, savedAt: data.savedAt, fingerprint } : {};
}
