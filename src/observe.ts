import type { Api } from './api.js';
import { detectChanges } from './changes.js';
import { reloaderClassHashes, secretProviderClassSources, type PodStatus } from './csi.js';
import { loadHashKey } from './hash-key.js';
import { Hasher } from './hashing.js';
import type { Change, Source, Workload } from './model.js';
import { stashPrefix } from './job-stash.js';
import { reloaderShaRequest, type ReloaderShaRequest } from './reloader-records.js';
import { listsEntry, resolveScope, type Scope } from './scope.js';
import { listPodStatuses, listSources, type Comparing } from './sources.js';
import type { StateData, StateStore } from './state.js';
import { listWorkloads } from './workloads.js';
import type { PassDeps, PassOptions } from './pass.js';

/** What a pass saw before deciding anything: the state, the sources in scope, their changes. */
export interface Observed {
  hasher: Hasher;
  /** The usable observed state, if any. */
  previous: StateData | undefined;
  stateProblem: string | undefined;
  scope: Scope;
  sources: Source[];
  changes: Change[];
  /** Whether an entry of the state is one this pass listed (see `listsEntry`). */
  listed: (id: string) => boolean;
  /** The workloads, when a baseline listed them before the sources. */
  workloads: Workload[] | undefined;
  /** On a baseline: Reloader's hashes of the sources Reloader records name (see plan.ts). */
  reloaderHashes: Map<string, string> | undefined;
  /** `--enable-csi-integration`: the SecretProviderClassPodStatus objects listed. */
  podStatuses: PodStatus[] | undefined;
}

/** The hash key, the observed state, and the sources in scope compared with it. */
export async function observe(deps: PassDeps, options: PassOptions): Promise<Observed> {
  const { api, store } = deps;
  const names = options.plan.names;
  const loading = loadState(deps, options);
  // Its failure is the pass's, thrown below; it must not also be an unhandled rejection meanwhile.
  loading.catch(() => undefined);
  const scope = await resolveScope(api, options.scope);
  // A baseline lists the workloads first, so that the content of the sources their Reloader
  // records name (and of those only) is also hashed as Reloader hashes it, while it is read.
  const comparing = loading.then(async ({ hasher, previous }): Promise<Comparing> => {
    const early =
      !previous && options.webhookUrl === undefined
        ? await listWorkloads(api, scope, names, hasher.keyId)
        : undefined;
    const reloader = early && reloaderShaRequest(early);
    return { hasher, observed: previous?.sources ?? {}, reloader, early };
  });
  // The lists of sources are asked for at once: their first pages are on their way while the
  // state is read and parsed (what a steady pass does besides listing).
  const own = ownObjects(store, options.hashKey);
  const [{ hasher, previous, stateProblem }, { observed, reloader, early }, sources] =
    await Promise.all([loading, comparing, listSources(api, scope, names, comparing, own)]);
  const podStatuses = await listSecretProviderClasses(api, scope, hasher, {
    previous,
    sources,
    reloader,
  });
  const sameSelector = previous?.labelSelector === options.scope.resourceLabelSelector;
  const listed = listsEntry(scope, sameSelector);
  const changes = previous ? detectChanges(observed, sources, listed) : [];
  return {
    hasher,
    previous,
    stateProblem,
    scope,
    sources,
    changes,
    listed,
    workloads: early,
    reloaderHashes: reloader?.found,
    podStatuses,
  };
}

/** The hash key and the observed state, unless it was made with another key. */
async function loadState(
  { api, store }: PassDeps,
  options: PassOptions,
): Promise<{ hasher: Hasher; previous: StateData | undefined; stateProblem: string | undefined }> {
  const { namespace, name } = options.hashKey;
  // Neither needs the other: read at once.
  const [key, loaded] = await Promise.all([
    loadHashKey(api, namespace, name, !options.dryRun),
    store.load(),
  ]);
  const hasher = new Hasher(key.key);
  if (loaded.data && loaded.data.keyId !== hasher.keyId) {
    const stateProblem = `state ${store.location} was made with another hash key: recording a new baseline`;
    return { hasher, previous: undefined, stateProblem };
  }
  return { hasher, previous: loaded.data, stateProblem: loaded.problem };
}

/**
 * `--enable-csi-integration`: the SecretProviderClassPodStatus objects in scope, and the
 * SecretProviderClasses they show, added to `sources` (see csi.ts). Without it, nothing is listed.
 * On a baseline, Reloader's hashes of the classes its records name go into `reloader.found`.
 */
async function listSecretProviderClasses(
  api: Api,
  scope: Scope,
  hasher: Hasher,
  into: {
    previous: StateData | undefined;
    sources: Source[];
    reloader: ReloaderShaRequest | undefined;
  },
): Promise<PodStatus[] | undefined> {
  if (!scope.csiIntegration) return undefined;
  const { previous, sources, reloader } = into;
  const podStatuses = await listPodStatuses(api, scope, hasher, reloader);
  const before = { sources: previous?.sources ?? {}, podStatuses: previous?.podStatuses ?? {} };
  const classes = secretProviderClassSources(podStatuses, before);
  sources.push(...classes);
  for (const [id, sha] of reloaderClassHashes(classes, podStatuses)) reloader?.found.set(id, sha);
  return podStatuses;
}

/**
 * The reloader's own objects, never sources: the state's ConfigMaps (with --state=configmap: in
 * scope, they would be a change every pass), the hash key and the stashed Jobs.
 */
function ownObjects(
  store: StateStore,
  hashKey: PassOptions['hashKey'],
): (o: { kind: string; namespace: string; name: string }) => boolean {
  return (o) =>
    store.owns?.(o) === true ||
    (o.kind === 'Secret' &&
      o.namespace === hashKey.namespace &&
      (o.name === hashKey.name || o.name.startsWith(stashPrefix)));
}
