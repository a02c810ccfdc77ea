import type { Api } from './api.js';
import { detectChanges } from './changes.js';
import { reloaderClassHashes, secretProviderClassSources, type PodStatus } from './csi.js';
import { loadHashKey } from './hash-key.js';
import { Hasher } from './hashing.js';
import type { Change, Source, Workload } from './model.js';
import { stashPrefix } from './job-stash.js';
import { reloaderShaRequest, type ReloaderShaRequest } from './reloader-records.js';
import { listsEntry, resolveScope, type Scope } from './scope.js';
import { listingFingerprint, type StatePeek } from './fingerprint.js';
import { hashSources, listPodStatuses, listSourceMetadata } from './sources.js';
import type { Loaded, StateData, StateStore } from './state.js';
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
  /**
   * Nothing moved since the state was saved, as its head says (see fingerprint.ts): `previous`
   * is that head alone, without its entries, and there is nothing to save.
   */
  unchanged?: boolean;
}

/**
 * The hash key, the observed state, and the sources in scope compared with it. The sources are
 * listed (metadata only) while the hash key and the state are read. When the state's head says
 * that nothing is pending and fingerprints entries that are exactly what was listed, nothing
 * moved: the pass is done without reading the rest of the state (`unchanged`).
 */
export async function observe(deps: PassDeps, options: PassOptions): Promise<Observed> {
  const { api, store } = deps;
  const names = options.plan.names;
  const keying = loadHasher(deps, options);
  const peeking = store.peek?.() ?? Promise.resolve(undefined);
  // Without a head to compare with, the whole state is read at once, while the lists go on.
  const early = peeking.then((peek) => (peek ? undefined : store.load()));
  // Their failures are the pass's, thrown below; not unhandled rejections meanwhile.
  for (const p of [keying, peeking, early]) p.catch(() => undefined);
  const scope = await resolveScope(api, options.scope);
  const own = ownObjects(store, options.hashKey);
  const [hasher, peek, listed] = await Promise.all([
    keying,
    peeking,
    listSourceMetadata(api, scope, names, own),
  ]);
  if (peek && unchanged(peek, hasher, listed, scope))
    return unchangedPass(peek, hasher, scope, listed);
  // Something moved: the lists' pages are garbage before the whole state is parsed on top of them.
  if (peek) deps.collect?.();
  const loaded = (await early) ?? (await store.load());
  return compare(deps, options, { hasher, scope, listed, ...stateFor(hasher, loaded, store) });
}

/** The listed sources hashed and compared with the whole state read. */
async function compare(
  { api, collect }: PassDeps,
  options: PassOptions,
  seen: Pick<Observed, 'hasher' | 'scope' | 'previous' | 'stateProblem'> & { listed: Source[] },
): Promise<Observed> {
  const { hasher, scope, previous, listed } = seen;
  const names = options.plan.names;
  // A baseline lists the workloads first, so that the content of the sources their Reloader
  // records name (and of those only) is also hashed as Reloader hashes it, while it is read.
  const workloads =
    !previous && options.webhookUrl === undefined
      ? await listWorkloads(api, scope, names, hasher.keyId)
      : undefined;
  const reloader = workloads && reloaderShaRequest(workloads);
  const observed = previous?.sources ?? {};
  const sources = await hashSources(api, scope, names, listed, { hasher, observed, reloader });
  // The lists' own copies of the uids and resourceVersions, and the text of the state just
  // parsed, are garbage now: collected here, they are not what the rest of the pass grows on (a
  // pass with a change peaked ~15 MiB higher at 20k sources).
  collect?.();
  const podStatuses = await listSecretProviderClasses(api, scope, hasher, {
    previous,
    sources,
    reloader,
  });
  const sameSelector = previous?.labelSelector === options.scope.resourceLabelSelector;
  const listedEntry = listsEntry(scope, sameSelector);
  return {
    ...seen,
    sources,
    changes: previous ? detectChanges(observed, sources, listedEntry) : [],
    listed: listedEntry,
    workloads,
    reloaderHashes: reloader?.found,
    podStatuses,
  };
}

/**
 * Whether the stored state says exactly what was listed, and nothing else: made with this hash
 * key, for this label selector, with nothing pending (only such a state has a fingerprint), and
 * not a CSI scope (its pod statuses are listed apart, and only the whole state has them).
 */
function unchanged(peek: StatePeek, hasher: Hasher, listed: Source[], scope: Scope): boolean {
  if (scope.csiIntegration || peek.keyId !== hasher.keyId) return false;
  return peek.fingerprint === listingFingerprint(listed, scope.resourceLabelSelector);
}

/**
 * A pass that saw nothing move: no change, nothing pending, nothing to save. Its previous state
 * is the head alone (no entries were read; `unchanged` says so to whoever would build on them).
 */
function unchangedPass(peek: StatePeek, hasher: Hasher, scope: Scope, listed: Source[]): Observed {
  const { keyId, savedAt } = peek;
  const labelSelector = scope.resourceLabelSelector;
  return {
    hasher,
    previous: { version: 1, keyId, savedAt, sources: {}, labelSelector },
    stateProblem: undefined,
    scope,
    sources: listed,
    changes: [],
    listed: () => false,
    workloads: undefined,
    reloaderHashes: undefined,
    podStatuses: undefined,
    unchanged: true,
  };
}

/** The hash key's hasher. */
async function loadHasher({ api }: PassDeps, options: PassOptions): Promise<Hasher> {
  const { namespace, name } = options.hashKey;
  return new Hasher((await loadHashKey(api, namespace, name, !options.dryRun)).key);
}

/** The observed state, unless it was made with another key. */
function stateFor(
  hasher: Hasher,
  loaded: Loaded,
  store: StateStore,
): { previous: StateData | undefined; stateProblem: string | undefined } {
  if (loaded.data && loaded.data.keyId !== hasher.keyId) {
    const stateProblem = `state ${store.location} was made with another hash key: recording a new baseline`;
    return { previous: undefined, stateProblem };
  }
  return { previous: loaded.data, stateProblem: loaded.problem };
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
