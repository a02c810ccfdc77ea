import {
  CoreV1Api,
  type KubeConfig,
  type V1ConfigMap,
  type V1Secret,
} from '@kubernetes/client-node';
import type { AnnotationNames } from './annotations.js';
import type { Hasher } from './hashing.js';
import { sourceId, type Source } from './model.js';
import type { SourceKind } from './references.js';
import { paginate, type Page } from './kube.js';
import type { Scope } from './scope.js';
import type { ObservedSource } from './state.js';

const pageSize = 250;

/**
 * Lists every ConfigMap and Secret in scope, page by page, keeping only identity and keyed hash:
 * the data of a page is dropped as soon as it is hashed. A hash is reused from the observed state
 * when the object's uid and resourceVersion have not moved.
 */
export async function listSources(
  kc: KubeConfig,
  scope: Scope,
  hasher: Hasher,
  names: AnnotationNames,
  observed: Record<string, ObservedSource>,
): Promise<Source[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const labelSelector = scope.resourceLabelSelector;
  const out: Source[] = [];
  for (const kind of scope.sourceKinds) {
    const fetchPage = pager(core, kind, labelSelector);
    for (const namespace of scope.namespaces ?? [undefined]) {
      await paginate(
        (token) => fetchPage(namespace, token),
        (item) => {
          const source = toSource(kind, item, hasher, names, observed);
          if (source && scope.includes(source.namespace)) out.push(source);
        },
      );
    }
  }
  return out;
}

type Item = V1ConfigMap | V1Secret;

function pager(
  core: CoreV1Api,
  kind: SourceKind,
  labelSelector: string | undefined,
): (namespace: string | undefined, token: string | undefined) => Promise<Page<Item>> {
  return (namespace, _continue) => {
    const query = { limit: pageSize, _continue, labelSelector };
    if (kind === 'ConfigMap') {
      return namespace
        ? core.listNamespacedConfigMap({ ...query, namespace })
        : core.listConfigMapForAllNamespaces(query);
    }
    return namespace
      ? core.listNamespacedSecret({ ...query, namespace })
      : core.listSecretForAllNamespaces(query);
  };
}

function toSource(
  kind: SourceKind,
  item: Item,
  hasher: Hasher,
  names: AnnotationNames,
  observed: Record<string, ObservedSource>,
): Source | undefined {
  const meta = item.metadata;
  if (!meta?.name || !meta.namespace) return undefined;
  const identity = { kind, namespace: meta.namespace, name: meta.name };
  const uid = meta.uid ?? '';
  const resourceVersion = meta.resourceVersion ?? '';
  const before = observed[sourceId(identity)];
  const unchanged = before?.uid === uid && before.resourceVersion === resourceVersion;
  const hash = unchanged ? before.hash : hasher.hash(kind, item);
  return {
    ...identity,
    uid,
    resourceVersion,
    hash,
    ignore: meta.annotations?.[names.ignore],
    match: meta.annotations?.[names.match],
  };
}
