import { randomBytes } from 'node:crypto';
import { CoreV1Api, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import type { Adapter } from 'lowdb';
import { statusOf, UsageError } from './kube.js';
import { fileStateStore, LowStateStore, UnreadableState, type StateStore } from './state.js';

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
export class ConfigMapAdapter implements Adapter<unknown> {
  private readonly core: CoreV1Api;
  private head: V1ConfigMap | undefined;

  constructor(
    kc: KubeConfig,
    readonly namespace: string,
    readonly name: string,
    private readonly chunkBytes = defaultChunkBytes,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
  }

  async read(): Promise<unknown> {
    this.head = await this.get(this.name);
    if (!this.head) return null;
    const { generation, parts } = this.layout(this.head);
    let text = '';
    for (let i = 0; i < parts; i++) {
      const part = await this.get(`${this.name}-${generation}-${i}`);
      if (part?.data?.part === undefined)
        throw new UnreadableState(`part ${i} of generation ${generation} is missing`);
      text += part.data.part;
    }
    return JSON.parse(text) as unknown;
  }

  async write(data: unknown): Promise<void> {
    const text = JSON.stringify(data);
    const generation = randomBytes(4).toString('hex');
    const parts = Math.max(1, Math.ceil(text.length / this.chunkBytes));
    for (let i = 0; i < parts; i++) {
      const part = text.slice(i * this.chunkBytes, (i + 1) * this.chunkBytes);
      await this.core.createNamespacedConfigMap({
        namespace: this.namespace,
        body: {
          metadata: { name: `${this.name}-${generation}-${i}`, labels: managedBy },
          data: { part },
        },
      });
    }
    const old = this.head ? this.layout(this.head) : undefined;
    const body: V1ConfigMap = {
      metadata: {
        name: this.name,
        labels: managedBy,
        resourceVersion: this.head?.metadata?.resourceVersion,
      },
      data: { generation, parts: String(parts) },
    };
    try {
      this.head = this.head
        ? await this.core.replaceNamespacedConfigMap({
            name: this.name,
            namespace: this.namespace,
            body,
          })
        : await this.core.createNamespacedConfigMap({ namespace: this.namespace, body });
    } catch (err) {
      await this.deleteParts({ generation, parts });
      if (statusOf(err) === 409)
        throw new Error(
          `state ConfigMap ${this.namespace}/${this.name} was written by another instance`,
          { cause: err },
        );
      throw err;
    }
    if (old) await this.deleteParts(old);
  }

  /** Keeps an unreadable state aside under a new name, and removes it from the way. */
  async setAside(): Promise<string> {
    const head = await this.get(this.name);
    const aside = `${this.name}-unreadable-${Date.now()}`;
    await this.core.createNamespacedConfigMap({
      namespace: this.namespace,
      body: { metadata: { name: aside, labels: managedBy }, data: head?.data ?? {} },
    });
    await this.core.deleteNamespacedConfigMap({ name: this.name, namespace: this.namespace });
    this.head = undefined;
    return `configmap:${this.namespace}/${aside}`;
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
      await this.core
        .deleteNamespacedConfigMap({
          name: `${this.name}-${generation}-${i}`,
          namespace: this.namespace,
        })
        .catch(() => undefined);
    }
  }

  private async get(name: string): Promise<V1ConfigMap | undefined> {
    try {
      return await this.core.readNamespacedConfigMap({ name, namespace: this.namespace });
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }
}

/** A state store in ConfigMaps of the cluster. */
export function configMapStateStore(
  kc: KubeConfig,
  namespace: string,
  name: string,
  chunkBytes?: number,
): StateStore {
  const adapter = new ConfigMapAdapter(kc, namespace, name, chunkBytes);
  return new LowStateStore(`configmap:${namespace}/${name}`, adapter, () => adapter.setAside());
}

/** The store `--state` names: `configmap:NAMESPACE/NAME`, or a file path. */
export async function openStateStore(kc: KubeConfig, state: string): Promise<StateStore> {
  const location = parseConfigMapLocation(state);
  return location
    ? configMapStateStore(kc, location.namespace, location.name)
    : fileStateStore(state);
}
