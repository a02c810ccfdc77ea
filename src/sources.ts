import { listAll, metadataListProtobufAccept, resourcePath, resources, type Api } from './api.js';
import type { AnnotationNames } from './annotations.js';
import {
  csiMissing,
  podStatusContent,
  reloaderPodStatusSha,
  type PodStatus,
  type PodStatusObject,
} from './csi.js';
import { statusOf, UsageError } from './errors.js';
import type { Hasher, SourceContent } from './hashing.js';
import { decodeMetadataList } from './metadata-protobuf.js';
import { sourceId, type Source, type Workload } from './model.js';
import type { ContentKind } from './references.js';
import type { Scope } from './scope.js';
import { reloaderSha, type ReloaderShaRequest } from './reloader-records.js';
import type { ObservedSource } from './state.js';

interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  annotations?: Record<string, string> | null;
}

type Item = SourceContent & { metadata?: ObjectMeta };

const typeOf = { ConfigMap: resources.configMaps, Secret: resources.secrets } as const;

/**
 * Content is read in pages this small, so that a namespace of large Secrets never holds much
 * memory at once (256 KiB each: 12 MiB a page).
 */
const contentPageSize = 50;
/** Above this many moved objects in one namespace, one list of it beats a GET each. */
const listNamespaceAbove = 20;

/**
 * What the listed sources are compared with and hashed by: the hash key, the observed state's
 * entries, and on a baseline the sources whose content is also to be hashed as Reloader hashes it
 * (`reloader`, with the workloads listed for it, `early`).
 */
export interface Comparing {
  hasher: Hasher;
  observed: Record<string, ObservedSource>;
  reloader?: ReloaderShaRequest | undefined;
  early?: Workload[] | undefined;
}

/**
 * Every ConfigMap and Secret in scope, from their metadata only (names, uids, resourceVersions,
 * the reloader's annotations), their hash still to be known (''). What `exclude` says is not a
 * source (the state's own ConfigMaps) is left out. The kinds are listed at once: while this
 * process reads a page of one, the API server prepares the next page of the other (a list's
 * pages can only be asked for one after another).
 */
export async function listSourceMetadata(
  api: Api,
  scope: Scope,
  names: AnnotationNames,
  exclude: (source: Source) => boolean = () => false,
): Promise<Source[]> {
  const kinds = await Promise.all(
    scope.sourceKinds.map((kind) => listMetadata(api, scope, kind, names)),
  );
  return kinds.flat().filter((source) => !exclude(source));
}

/**
 * The listed sources with their keyed hashes. One whose uid and resourceVersion are those of its
 * state entry takes the entry's hash, and the entry's strings for both, so that the copies parsed
 * from the pages go with them; the content of the others, which moved, is read (and hashed, then
 * dropped), so a pass where nothing changed reads no data. With `reloader` (a baseline), the
 * content read of the sources it wants is also hashed as Reloader hashes it, into
 * `reloader.found`: in memory, for this pass only.
 */
export async function hashSources(
  api: Api,
  scope: Scope,
  names: AnnotationNames,
  listed: Source[],
  { hasher, observed, reloader }: Comparing,
): Promise<Source[]> {
  const kinds = await Promise.all(
    scope.sourceKinds.map(async (kind) => {
      const out: Source[] = [];
      const moved: Source[] = [];
      for (const source of listed) {
        if (source.kind !== kind) continue;
        const before = observed[sourceId(source)];
        if (before?.uid !== source.uid || before.resourceVersion !== source.resourceVersion) {
          moved.push(source);
          continue;
        }
        source.uid = before.uid;
        source.resourceVersion = before.resourceVersion;
        source.hash = before.hash;
        out.push(source);
      }
      const movedAll = moved.length > (out.length + moved.length) / 2;
      const how = { hasher, names, kind, reloader };
      out.push(...(await readContent(api, scope, how, moved, movedAll)));
      return out;
    }),
  );
  return kinds.flat();
}

/** The sources of one kind, from their metadata, their hash left empty. */
async function listMetadata(
  api: Api,
  scope: Scope,
  kind: ContentKind,
  names: AnnotationNames,
): Promise<Source[]> {
  // Of the annotations, only the reloader's two are read from the list.
  const wanted = (key: string): boolean => key === names.ignore || key === names.match;
  const keep = (item: Item): Source | undefined => toSource(kind, item.metadata, names, '');
  const out: Source[] = [];
  for (const namespace of scope.namespaces ?? [undefined]) {
    const page = await listAll(
      api,
      resourcePath(typeOf[kind], namespace),
      {
        labelSelector: scope.resourceLabelSelector,
        accept: metadataListProtobufAccept,
        protobuf: (body) => decodeMetadataList(body, wanted),
      },
      keep,
    );
    for (const source of page) if (scope.includes(source.namespace)) out.push(source);
  }
  return out;
}

/** How the content read is hashed: keyed, and (on a baseline) as Reloader does for some. */
interface ContentHashing {
  hasher: Hasher;
  names: AnnotationNames;
  kind: ContentKind;
  reloader: ReloaderShaRequest | undefined;
}

/**
 * The hashed content of the moved objects: all of the scope listed at once when most moved (a
 * first pass), else by namespace: a list where many moved, a GET each where few did. An object
 * deleted since it was listed is left out, as if it had not been listed.
 */
async function readContent(
  api: Api,
  scope: Scope,
  how: ContentHashing,
  moved: Source[],
  movedAll: boolean,
): Promise<Source[]> {
  if (moved.length === 0) return [];
  const { hasher, names, kind, reloader } = how;
  const wanted = new Set(moved.map(sourceId));
  const hashed = (item: Item): Source | undefined => {
    const source = toSource(kind, item.metadata, names, '');
    if (!source || !wanted.has(sourceId(source))) return undefined;
    if (reloader?.wants(source)) reloader.found.set(sourceId(source), reloaderSha(kind, item));
    return { ...source, hash: hasher.hash(kind, item) };
  };
  const list = (namespace: string | undefined): Promise<Source[]> =>
    listAll(
      api,
      resourcePath(typeOf[kind], namespace),
      { labelSelector: scope.resourceLabelSelector, pageSize: contentPageSize },
      hashed,
    );
  if (movedAll) {
    const out: Source[] = [];
    for (const namespace of scope.namespaces ?? [undefined]) out.push(...(await list(namespace)));
    return out;
  }
  const out: Source[] = [];
  for (const [namespace, group] of byNamespace(moved)) {
    if (group.length > listNamespaceAbove) out.push(...(await list(namespace)));
    else out.push(...(await getEach(api, kind, group, hashed)));
  }
  return out;
}

/**
 * One object at a time, each as a list of one (a field selector on its name): that needs only the
 * `list` permission, which the reloader has, where a GET would need `get`.
 */
async function getEach(
  api: Api,
  kind: ContentKind,
  group: Source[],
  hashed: (item: Item) => Source | undefined,
): Promise<Source[]> {
  const lists = await Promise.all(
    group.map((s) =>
      listAll(
        api,
        resourcePath(typeOf[kind], s.namespace),
        { fieldSelector: `metadata.name=${s.name}` },
        hashed,
      ),
    ),
  );
  return lists.flat();
}

function byNamespace(sources: Source[]): Map<string, Source[]> {
  const groups = new Map<string, Source[]>();
  for (const s of sources) {
    const group = groups.get(s.namespace);
    if (group) group.push(s);
    else groups.set(s.namespace, [s]);
  }
  return groups;
}

/** A source from an object's metadata, with the hash given. */
function toSource(
  kind: ContentKind,
  meta: ObjectMeta | undefined,
  names: AnnotationNames,
  hash: string,
): Source | undefined {
  if (!meta?.name || !meta.namespace) return undefined;
  const source: Source = {
    kind,
    namespace: meta.namespace,
    name: meta.name,
    uid: meta.uid ?? '',
    resourceVersion: meta.resourceVersion ?? '',
    hash,
  };
  // Set only when present: most objects carry neither, and a pass keeps thousands of sources.
  const ignore = meta.annotations?.[names.ignore];
  const match = meta.annotations?.[names.match];
  if (ignore !== undefined) source.ignore = ignore;
  if (match !== undefined) source.match = match;
  return source;
}

/**
 * Every SecretProviderClassPodStatus in scope (`--enable-csi-integration`), with the keyed hash of
 * its content: one plain list per namespace listed (or one cluster-wide), as they are small
 * (ids and versions, no secret data). The resource label selector applies, as in Reloader. When the
 * API is not served (the CSI driver's CRDs are not installed), a one-line error. With `reloader`
 * (a baseline), those of the classes it wants are also hashed as Reloader hashes them.
 */
export async function listPodStatuses(
  api: Api,
  scope: Scope,
  hasher: Hasher,
  reloader?: ReloaderShaRequest,
): Promise<PodStatus[]> {
  const keep = (item: PodStatusObject): PodStatus | undefined => {
    const meta = item.metadata;
    if (!meta?.name || !meta.namespace || !scope.includes(meta.namespace)) return undefined;
    const name = item.status?.secretProviderClassName ?? '';
    const wanted = reloader?.wants({
      namespace: meta.namespace,
      kind: 'SecretProviderClass',
      name,
    });
    return {
      namespace: meta.namespace,
      name: meta.name,
      uid: meta.uid ?? '',
      resourceVersion: meta.resourceVersion ?? '',
      secretProviderClass: name,
      hash: hasher.hashPodStatus(podStatusContent(item.status)),
      reloaderSha: wanted ? reloaderPodStatusSha(item.status) : undefined,
    };
  };
  const out: PodStatus[] = [];
  try {
    for (const namespace of scope.namespaces ?? [undefined]) {
      const path = resourcePath(resources.secretProviderClassPodStatuses, namespace);
      out.push(...(await listAll(api, path, { labelSelector: scope.resourceLabelSelector }, keep)));
    }
  } catch (err) {
    if (statusOf(err) === 404) throw new UsageError(csiMissing, { cause: err });
    throw err;
  }
  return out;
}

/**
 * `--enable-csi-integration`: stops the program, with one line, before anything is done when the
 * cluster does not serve the SecretProviderClassPodStatus API (its discovery document).
 */
export async function checkPodStatusApi(api: Api, enabled: boolean): Promise<void> {
  if (!enabled) return;
  const { group, version, plural } = resources.secretProviderClassPodStatuses;
  let served: { resources?: { name?: string }[] };
  try {
    served = await api.request({ path: `/apis/${group}/${version}` });
  } catch (err) {
    if (statusOf(err) === 404) throw new UsageError(csiMissing, { cause: err });
    throw err;
  }
  if (!served.resources?.some((r) => r.name === plural)) throw new UsageError(csiMissing);
}
