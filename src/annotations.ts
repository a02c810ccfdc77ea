import { RE2JS } from 're2js';

/**
 * The annotation names polling-reloader reads and writes. The defaults are Stakater Reloader's;
 * each can be overridden by the flag of the same name as in Reloader.
 */
export interface AnnotationNames {
  auto: string;
  configmapAuto: string;
  secretAuto: string;
  configmapReload: string;
  secretReload: string;
  search: string;
  match: string;
  configmapExclude: string;
  secretExclude: string;
  /** SecretProviderClass annotations (`--enable-csi-integration`); Reloader has no flags for them. */
  secretProviderClassAuto: string;
  secretProviderClassReload: string;
  secretProviderClassExclude: string;
  ignore: string;
  pausePeriod: string;
  pausedAt: string;
  rolloutStrategy: string;
  lastReloadedFrom: string;
  /** polling-reloader's own record of the keyed hashes a workload was rolled for. */
  record: string;
  /** `"true"` on a workload: it rolls at once, outside the batches of --max-reloads-per-pass. */
  rollAtOnce: string;
}

export const defaultAnnotationNames: AnnotationNames = {
  auto: 'reloader.stakater.com/auto',
  configmapAuto: 'configmap.reloader.stakater.com/auto',
  secretAuto: 'secret.reloader.stakater.com/auto',
  configmapReload: 'configmap.reloader.stakater.com/reload',
  secretReload: 'secret.reloader.stakater.com/reload',
  search: 'reloader.stakater.com/search',
  match: 'reloader.stakater.com/match',
  configmapExclude: 'configmaps.exclude.reloader.stakater.com/reload',
  secretExclude: 'secrets.exclude.reloader.stakater.com/reload',
  secretProviderClassAuto: 'secretproviderclass.reloader.stakater.com/auto',
  secretProviderClassReload: 'secretproviderclass.reloader.stakater.com/reload',
  secretProviderClassExclude: 'secretproviderclasses.exclude.reloader.stakater.com/reload',
  ignore: 'reloader.stakater.com/ignore',
  pausePeriod: 'deployment.reloader.stakater.com/pause-period',
  pausedAt: 'deployment.reloader.stakater.com/paused-at',
  rolloutStrategy: 'reloader.stakater.com/rollout-strategy',
  lastReloadedFrom: 'reloader.stakater.com/last-reloaded-from',
  record: 'polling-reloader.io/reloaded-hashes',
  rollAtOnce: 'polling-reloader.io/roll-at-once',
};

/** The outcome of reading one annotation: its value, or why it is ignored. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

/** `"true"` or `"false"`, case-insensitive, as Reloader accepts them. */
export function parseBoolean(raw: string): Parsed<boolean> {
  const value = raw.trim().toLowerCase();
  if (value === 'true') return { ok: true, value: true };
  if (value === 'false') return { ok: true, value: false };
  return { ok: false, problem: `"${raw}" is not a boolean (use "true" or "false")` };
}

/** A comma list with the blanks trimmed and empty entries dropped. */
export function parseList(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** One reload-list entry, compiled: whether it matches a whole name. */
export interface NamePattern {
  /** The entry as written in the annotation. */
  readonly source: string;
  test(name: string): boolean;
}

/** Go's regexp metacharacters (those regexp.QuoteMeta escapes): any other character is literal. */
const metacharacters = /[\\.+*?()|[\]{}^$]/;

/**
 * One entry as Reloader reads it: a regular expression in Go (RE2) syntax, matched against the
 * whole name, in time linear in the name whatever the pattern (re2js, no backtracking). An entry
 * without metacharacters is a plain name and is compared as one, which is much faster.
 */
function compilePattern(entry: string): Parsed<NamePattern> {
  if (!metacharacters.test(entry)) {
    return { ok: true, value: { source: entry, test: (name) => name === entry } };
  }
  let re: RE2JS;
  try {
    // Compiled alone, so that an entry cannot unbalance an enclosing group; testExact anchors it
    // to the whole name, as ^(?:entry)$ would.
    re = RE2JS.compile(entry);
  } catch (error) {
    const why =
      error instanceof Error ? `: ${error.message.replace(/^error parsing regexp: /, '')}` : '';
    return {
      ok: false,
      problem: `"${entry}" is not a valid regular expression (Go RE2 syntax)${why}`,
    };
  }
  return { ok: true, value: { source: entry, test: (name) => re.testExact(name) } };
}

/** A comma list of regular expressions (Go RE2 syntax), each anchored to match a whole name. */
export function parsePatterns(raw: string): Parsed<NamePattern[]> {
  const patterns: NamePattern[] = [];
  for (const entry of parseList(raw)) {
    const pattern = compilePattern(entry);
    if (!pattern.ok) return pattern;
    patterns.push(pattern.value);
  }
  return { ok: true, value: patterns };
}

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go-style duration such as `30s`, `5m` or `1h30m`, in milliseconds; zero is refused. */
export function parseDuration(raw: string): Parsed<number> {
  const text = raw.trim();
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
  let total = 0;
  let at = 0;
  while (at < text.length) {
    part.lastIndex = at;
    const match = part.exec(text);
    if (!match) break;
    total += Number(match[1]) * (durationUnits[match[2] ?? ''] ?? 0);
    at = part.lastIndex;
  }
  if (text.length === 0 || at !== text.length || total <= 0) {
    return { ok: false, problem: `"${raw}" is not a duration (use for example 30s, 5m or 1h30m)` };
  }
  return { ok: true, value: total };
}
