import {
  parseBoolean,
  parseDuration,
  parseList,
  parsePatterns,
  type AnnotationNames,
  type NamePattern,
  type Parsed,
} from './annotations.js';
import {
  DELETED,
  sourceId,
  workloadId,
  type Change,
  type ChangeType,
  type Source,
  type Workload,
} from './model.js';
import { recordDigest } from './hashing.js';
import { isSourceKind, referenceKey, type SourceKind } from './references.js';
import { reloaderProvesOutdated } from './reloader-records.js';

/** The flags that shape decisions. */
export interface PlanOptions {
  names: AnnotationNames;
  autoReloadAll: boolean;
  reloadOnCreate: boolean;
  reloadOnDelete: boolean;
  /**
   * `--enable-csi-integration`: SecretProviderClasses are sources. Without it, a workload's
   * SecretProviderClass references, reload list and record entries are left alone.
   */
  csiIntegration?: boolean | undefined;
}

export interface PlanInput {
  /** Every ConfigMap and Secret in scope, as listed now (and SecretProviderClass, see csi.ts). */
  sources: Source[];
  /** What differs from the observed state; empty on a baseline pass. */
  changes: Change[];
  workloads: Workload[];
  options: PlanOptions;
  now: Date;
  /**
   * On a baseline only: Reloader's SHA1 of the current content of the sources that workloads'
   * Reloader records name, by source id. Only compared with those records; never kept.
   */
  reloaderHashes?: ReadonlyMap<string, string> | undefined;
}

/** Which rule of SPEC §2 made a source trigger a workload. */
export type Rule = 'reload-list' | 'search' | 'typed-auto' | 'auto' | 'auto-reload-all';

/**
 * Why a trigger fires: a change seen against the state, the workload's own outdated record, or
 * the held-back label a batch left on it (the reload it is owed, when the state is lost), or (on a
 * baseline) the outdated record Stakater Reloader left on it.
 */
export type Reason = ChangeType | 'outdated' | 'held-back' | 'reloader-outdated';

export interface Trigger {
  kind: SourceKind;
  name: string;
  rule: Rule;
  reason: Reason;
  /** The keyed hash to roll to (`deleted` for a deleted source). */
  hash: string;
}

/**
 * One workload to patch, once, in this pass. `pause` holds its rollout back (a Deployment inside
 * its pause period); `resume` lets a rollout held back earlier go on.
 */
export interface Reload {
  workload: Workload;
  triggers: Trigger[];
  /** The complete record to write: the keyed hash of every source it now runs with. */
  record: Record<string, string>;
  pause: boolean;
  resume: boolean;
  /** The workload carries `polling-reloader.io/roll-at-once: "true"`: never held back by a batch. */
  rollAtOnce?: boolean;
}

export interface Plan {
  reloads: Reload[];
  /** Malformed annotations, one line each, naming the object and the annotation. */
  warnings: string[];
}

interface Rules {
  auto: boolean | undefined;
  typedAuto: Partial<Record<SourceKind, boolean>>;
  reload: Record<SourceKind, NamePattern[]>;
  exclude: Record<SourceKind, string[]>;
  search: boolean;
  pausePeriodMs: number | undefined;
  rollAtOnce: boolean;
}

/** Decides which workloads roll in this pass and why. Pure: no I/O, no clock. */
export function planPass(input: PlanInput): Plan {
  const warnings: string[] = [];
  const reloads = input.workloads.length > 0 ? planReloads(input, warnings) : [];
  for (const source of input.sources) checkSourceAnnotations(source, input.options.names, warnings);
  return { reloads, warnings };
}

function planReloads(input: PlanInput, warnings: string[]): Reload[] {
  const sources = new Map<string, Source>();
  for (const s of input.sources) sources.set(sourceId(s), s);
  const changes = new Map(input.changes.map((c) => [sourceId(c), c]));
  // Only a reload list looks at every name of a namespace: the index is made when one does.
  let byNamespace: Map<string, NamespaceIndex> | undefined;
  const namesIn = (namespace: string): NamespaceIndex | undefined =>
    (byNamespace ??= groupByNamespace(input.sources, input.changes)).get(namespace);
  const reloads: Reload[] = [];
  for (const workload of input.workloads) {
    const rules = readRules(workload, input.options, warnings);
    const candidates = candidateSources(workload, rules, namesIn, input.options.csiIntegration);
    const context = {
      workload,
      rules,
      options: input.options,
      sources,
      changes,
      reloaderHashes: input.reloaderHashes,
    };
    const { triggers, record } = triggersOf(context, candidates);
    const reload = schedule(workload, rules, triggers, record, input.now);
    if (reload) reloads.push(rules.rollAtOnce ? { ...reload, rollAtOnce: true } : reload);
  }
  return reloads;
}

interface Context {
  workload: Workload;
  rules: Rules;
  options: PlanOptions;
  sources: Map<string, Source>;
  changes: Map<string, Change>;
  reloaderHashes: ReadonlyMap<string, string> | undefined;
}

/**
 * The triggers of one workload, and the complete record a reload would write. A workload that a
 * batch held back carries the digest of that record in its label: while the record to write is
 * the same, it is owed a reload for the sources its record does not hold yet, even when no state
 * remembers the change (lost, or another instance's). When something else triggers it, that is
 * reason enough: the reload writes the whole record anyway.
 */
function triggersOf(
  ctx: Context,
  candidates: [SourceKind, string][],
): { triggers: Trigger[]; record: Record<string, string> } {
  const triggers: Trigger[] = [];
  const owed: Trigger[] = [];
  const record: Record<string, string> = { ...ctx.workload.record };
  for (const [kind, name] of candidates) {
    const outcome = evaluate(ctx, kind, name);
    if (!outcome) continue;
    if (outcome.trigger) triggers.push(outcome.trigger);
    else if (outcome.unrecorded) owed.push(outcome.unrecorded);
    record[referenceKey(kind, name)] = outcome.hash;
  }
  const { heldBack } = ctx.workload;
  if (triggers.length === 0 && heldBack !== undefined && heldBack === recordDigest(record)) {
    triggers.push(...owed);
  }
  return { triggers, record };
}

/**
 * For one relevant source: the hash to record, and a trigger when the workload does not yet run
 * with it. The workload's record makes this exactly-once: a hash it holds is never rolled again.
 * `unrecorded`: nothing triggers it, but the record does not hold the hash (the trigger it would
 * be if a held-back label says the workload is owed it).
 */
function evaluate(
  ctx: Context,
  kind: SourceKind,
  name: string,
): { hash: string; trigger?: Trigger; unrecorded?: Trigger } | undefined {
  const id = sourceId({ namespace: ctx.workload.namespace, kind, name });
  const source = ctx.sources.get(id);
  const rule = decide(ctx.workload, ctx.rules, ctx.options.autoReloadAll, kind, name, source);
  if (!rule) return undefined;
  const hash = source?.hash ?? DELETED;
  const recorded = ctx.workload.record[referenceKey(kind, name)];
  if (recorded === hash) return { hash };
  const current = ctx.reloaderHashes?.get(id);
  const reason =
    reasonFor(kind, ctx.changes.get(id)?.type, recorded, hash, ctx.options) ??
    (reloaderProvesOutdated(ctx.workload.reloader, kind, name, current)
      ? 'reloader-outdated'
      : undefined);
  if (reason) return { hash, trigger: { kind, name, rule, reason, hash } };
  if (hash === DELETED) return undefined;
  return { hash, unrecorded: { kind, name, rule, reason: 'held-back', hash } };
}

/**
 * Why a source that concerns a workload triggers it, if it does. A SecretProviderClass triggers on
 * an update only, as Reloader acts only on updates of SecretProviderClassPodStatus objects (its
 * controller drops their creations and deletions: a pod's start or end): never on a creation or
 * a deletion, whatever --reload-on-create and --reload-on-delete say.
 */
function reasonFor(
  kind: SourceKind,
  change: ChangeType | undefined,
  recorded: string | undefined,
  hash: string,
  options: PlanOptions,
): Reason | undefined {
  if (kind === 'SecretProviderClass' && (hash === DELETED || change === 'created'))
    return undefined;
  if (hash === DELETED && !options.reloadOnDelete) return undefined;
  if (change === 'created' && !options.reloadOnCreate) return recorded ? 'outdated' : undefined;
  if (change) return change;
  return recorded ? 'outdated' : undefined;
}

/** SPEC §2's decision order for one workload and one source. */
function decide(
  workload: Workload,
  rules: Rules,
  autoReloadAll: boolean,
  kind: SourceKind,
  name: string,
  source: Source | undefined,
): Rule | undefined {
  if (isTrue(source?.ignore)) return undefined;
  if (rules.exclude[kind].includes(name)) return undefined;
  if (rules.reload[kind].some((pattern) => pattern.test(name))) return 'reload-list';
  const referenced = workload.references.some((r) => r.kind === kind && r.name === name);
  if (!referenced) return undefined;
  if (rules.search && isTrue(source?.match)) return 'search';
  return decideAuto(rules, autoReloadAll, kind);
}

/**
 * Auto for a referenced source, as Reloader decides it: the typed or the generic annotation set to
 * true enables it; either set to false opts out of --auto-reload-all.
 */
function decideAuto(rules: Rules, autoReloadAll: boolean, kind: SourceKind): Rule | undefined {
  const typed = rules.typedAuto[kind];
  if (typed === true) return 'typed-auto';
  if (rules.auto === true) return 'auto';
  if (typed === false || rules.auto === false) return undefined;
  return autoReloadAll ? 'auto-reload-all' : undefined;
}

function isTrue(raw: string | undefined): boolean {
  return raw?.trim().toLowerCase() === 'true';
}

/** Every source that could concern a workload: its references, its named lists, its record. */
function candidateSources(
  workload: Workload,
  rules: Rules,
  namesIn: (namespace: string) => NamespaceIndex | undefined,
  csiIntegration = false,
): [SourceKind, string][] {
  const keys = new Map<string, [SourceKind, string]>();
  const add = (kind: SourceKind, name: string): void => {
    if (kind === 'SecretProviderClass' && !csiIntegration) return;
    keys.set(referenceKey(kind, name), [kind, name]);
  };
  for (const ref of workload.references) add(ref.kind, ref.name);
  for (const key of Object.keys(workload.record)) {
    const [kind, name] = key.split('/', 2);
    if (isSourceKind(kind) && name) add(kind, name);
  }
  const { ConfigMap, Secret, SecretProviderClass } = rules.reload;
  if (ConfigMap.length + Secret.length + SecretProviderClass.length === 0)
    return [...keys.values()];
  for (const [kind, name] of namesIn(workload.namespace)?.names ?? []) {
    if (rules.reload[kind].some((pattern) => pattern.test(name))) add(kind, name);
  }
  return [...keys.values()];
}

function schedule(
  workload: Workload,
  rules: Rules,
  triggers: Trigger[],
  record: Record<string, string>,
  now: Date,
): Reload | undefined {
  const period = workload.kind === 'Deployment' ? rules.pausePeriodMs : undefined;
  const pausedAt = workload.pausedAt ? Date.parse(workload.pausedAt) : undefined;
  const resume = resumeDue(pausedAt, period, now);
  if (triggers.length === 0) {
    return resume ? { workload, triggers, record, pause: false, resume } : undefined;
  }
  const reloadedAt = workload.reloadedAt ? Date.parse(workload.reloadedAt) : undefined;
  const inWindow =
    period !== undefined && reloadedAt !== undefined && now.getTime() < reloadedAt + period;
  const pause = !resume && (pausedAt !== undefined || inWindow);
  return { workload, triggers, record, pause, resume };
}

/**
 * Whether a rollout we held back goes on: its period has passed, its annotation is gone, or its
 * paused-at is unreadable (a rollout is never held back for good).
 */
function resumeDue(pausedAt: number | undefined, period: number | undefined, now: Date): boolean {
  if (pausedAt === undefined) return false;
  if (period === undefined || Number.isNaN(pausedAt)) return true;
  return now.getTime() >= pausedAt + period;
}

interface NamespaceIndex {
  names: [SourceKind, string][];
}

function groupByNamespace(sources: Source[], changes: Change[]): Map<string, NamespaceIndex> {
  const index = new Map<string, NamespaceIndex>();
  for (const item of [...sources, ...changes]) {
    const entry = index.get(item.namespace) ?? { names: [] };
    entry.names.push([item.kind, item.name]);
    index.set(item.namespace, entry);
  }
  return index;
}

function readRules(
  workload: Workload,
  { names, csiIntegration }: PlanOptions,
  warnings: string[],
): Rules {
  const a = workload.annotations;
  const read = <T>(annotation: string, parse: (raw: string) => Parsed<T>): T | undefined => {
    const raw = a[annotation];
    if (raw === undefined) return undefined;
    const parsed = parse(raw);
    if (parsed.ok) return parsed.value;
    warnings.push(`${workloadId(workload)}: annotation ${annotation} ignored: ${parsed.problem}`);
    return undefined;
  };
  const list = (annotation: string): string[] => parseList(a[annotation] ?? '');
  // Without --enable-csi-integration, the SecretProviderClass annotations are not read at all.
  const csiRead: typeof read = csiIntegration ? read : () => undefined;
  return {
    auto: read(names.auto, parseBoolean),
    typedAuto: {
      ConfigMap: read(names.configmapAuto, parseBoolean),
      Secret: read(names.secretAuto, parseBoolean),
      SecretProviderClass: csiRead(names.secretProviderClassAuto, parseBoolean),
    },
    reload: {
      ConfigMap: read(names.configmapReload, parsePatterns) ?? [],
      Secret: read(names.secretReload, parsePatterns) ?? [],
      SecretProviderClass: csiRead(names.secretProviderClassReload, parsePatterns) ?? [],
    },
    exclude: {
      ConfigMap: list(names.configmapExclude),
      Secret: list(names.secretExclude),
      SecretProviderClass: csiIntegration ? list(names.secretProviderClassExclude) : [],
    },
    search: read(names.search, parseBoolean) ?? false,
    pausePeriodMs:
      workload.kind === 'Deployment' ? read(names.pausePeriod, parseDuration) : undefined,
    rollAtOnce: read(names.rollAtOnce, parseBoolean) ?? false,
  };
}

function checkSourceAnnotations(source: Source, names: AnnotationNames, warnings: string[]): void {
  if (source.ignore === undefined && source.match === undefined) return;
  for (const [annotation, raw] of [
    [names.ignore, source.ignore],
    [names.match, source.match],
  ] as const) {
    if (raw === undefined) continue;
    const parsed = parseBoolean(raw);
    if (!parsed.ok)
      warnings.push(`${sourceId(source)}: annotation ${annotation} ignored: ${parsed.problem}`);
  }
}
