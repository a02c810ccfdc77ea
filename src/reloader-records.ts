import { createHash } from 'node:crypto';
import type { V1PodTemplateSpec } from '@kubernetes/client-node';
import type { AnnotationNames } from './annotations.js';
import type { SourceContent } from './hashing.js';
import { referenceKey, reloaderTypeName, type ContentKind, type SourceKind } from './references.js';

/**
 * What Stakater Reloader left on a workload it reloaded: its SHA1 of a source's content, in the
 * `last-reloaded-from` annotation of the pod template (annotations strategy: the last source only)
 * and in `STAKATER_<NAME>_CONFIGMAP|SECRET|SECRETPROVIDERCLASS` variables (env-vars strategy: one
 * per source; a SecretProviderClass's is the SHA1 of a pod status, see csi.ts). Read
 * only to switch over from Reloader (see `reloaderProvesOutdated`); never written.
 */
export interface ReloaderRecord {
  /** The source `last-reloaded-from` names (`Kind/name`), and its hash. */
  lastReloadedFrom?: { key: string; hash: string } | undefined;
  /** The `STAKATER_*` variables of the regular containers: their values, by name. */
  env: Record<string, string>;
}

/** What a pass asks of the source lister on a baseline: whose content to hash as Reloader does. */
export interface ReloaderShaRequest {
  wants: (source: { namespace: string; kind: SourceKind; name: string }) => boolean;
  /** Filled by the lister: Reloader's SHA1 of each wanted source's content, by source id. */
  found: Map<string, string>;
}

const sha1Hex = /^[0-9a-f]{40}$/;
const reloaderTypes: Record<string, SourceKind> = {
  CONFIGMAP: 'ConfigMap',
  SECRET: 'Secret',
  SECRETPROVIDERCLASS: 'SecretProviderClass',
};

/**
 * Reloader's env var name: `STAKATER_<NAME>_CONFIGMAP`, `_SECRET` or `_SECRETPROVIDERCLASS` (its
 * ConvertToEnvVarName, and the type postfixes of its internal/pkg/constants/constants.go).
 */
export function envVarName(kind: SourceKind, name: string): string {
  let out = '';
  let lastKept = false;
  for (const ch of name.toUpperCase()) {
    if (/[A-Z0-9]/.test(ch)) {
      out += ch;
      lastKept = true;
    } else if (lastKept) {
      out += '_';
      lastKept = false;
    }
  }
  return `STAKATER_${out}_${reloaderTypeName[kind]}`;
}

/**
 * Reloader's hash of a source's content, as its util.go computes it: each entry as `key=value`
 * (a ConfigMap's `binaryData` value in standard base64, a Secret's value as its decoded bytes),
 * sorted bytewise, joined with `;`, SHA1 in hex. A Secret's type does not count.
 */
export function reloaderSha(kind: ContentKind, content: SourceContent): string {
  const entries: Buffer[] = [];
  const entry = (key: string, value: Buffer): Buffer =>
    Buffer.concat([Buffer.from(`${key}=`), value]);
  if (kind === 'ConfigMap') {
    for (const [k, v] of Object.entries(content.data ?? {})) entries.push(entry(k, Buffer.from(v)));
    for (const [k, v] of Object.entries(content.binaryData ?? {})) {
      entries.push(entry(k, Buffer.from(Buffer.from(v, 'base64').toString('base64'))));
    }
  } else {
    for (const [k, v] of Object.entries(content.data ?? {}))
      entries.push(entry(k, Buffer.from(v, 'base64')));
  }
  entries.sort((a, b) => Buffer.compare(a, b));
  const hash = createHash('sha1');
  entries.forEach((e, i) => {
    if (i > 0) hash.update(';');
    hash.update(e);
  });
  return hash.digest('hex');
}

/** The Reloader record on a pod template, or undefined when it carries none. */
export function readReloaderRecord(
  template: V1PodTemplateSpec | undefined,
  namespace: string,
  names: AnnotationNames,
): ReloaderRecord | undefined {
  const env = reloaderEnv(template);
  const last = parseLastReloadedFrom(
    template?.metadata?.annotations?.[names.lastReloadedFrom],
    namespace,
  );
  if (!last && Object.keys(env).length === 0) return undefined;
  return { lastReloadedFrom: last, env };
}

const reloaderVariable = /^STAKATER_.+_(CONFIGMAP|SECRET|SECRETPROVIDERCLASS)$/;

/** The `STAKATER_*_CONFIGMAP|SECRET|SECRETPROVIDERCLASS` variables whose value is a SHA1, by name. */
function reloaderEnv(template: V1PodTemplateSpec | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  const entries = (template?.spec?.containers ?? []).flatMap((c) => c.env ?? []);
  for (const { name, value } of entries) {
    if (reloaderVariable.test(name) && value && sha1Hex.test(value)) env[name] = value;
  }
  return env;
}

function parseLastReloadedFrom(
  raw: string | undefined,
  namespace: string,
): ReloaderRecord['lastReloadedFrom'] {
  if (!raw) return undefined;
  let parsed: { type?: unknown; name?: unknown; namespace?: unknown; hash?: unknown };
  try {
    parsed = JSON.parse(raw) as typeof parsed;
  } catch {
    return undefined;
  }
  const kind = typeof parsed.type === 'string' ? reloaderTypes[parsed.type] : undefined;
  const { name, hash } = parsed;
  if (!kind || typeof name !== 'string' || typeof hash !== 'string' || !sha1Hex.test(hash))
    return undefined;
  if (parsed.namespace !== undefined && parsed.namespace !== namespace) return undefined;
  return { key: referenceKey(kind, name), hash };
}

/** The hashes a Reloader record holds for one source (none when it does not name it). */
export function reloaderHashes(record: ReloaderRecord, kind: SourceKind, name: string): string[] {
  const out: string[] = [];
  if (record.lastReloadedFrom?.key === referenceKey(kind, name))
    out.push(record.lastReloadedFrom.hash);
  const env = record.env[envVarName(kind, name)];
  if (env) out.push(env);
  return out;
}

/**
 * Whether Reloader's record proves that the workload runs an older content of the source than
 * `current` (Reloader's hash of its content now): the record names the source, and none of its
 * hashes for it is the current one (after a change of strategy, the newest may be either).
 */
export function reloaderProvesOutdated(
  record: ReloaderRecord | undefined,
  kind: SourceKind,
  name: string,
  current: string | undefined,
): boolean {
  if (!record || current === undefined) return false;
  const hashes = reloaderHashes(record, kind, name);
  return hashes.length > 0 && !hashes.includes(current);
}

/**
 * Which sources a baseline hashes as Reloader does: those named (by key or by variable name) by
 * the Reloader record of a workload of their namespace; no others.
 */
export function reloaderShaRequest(
  workloads: { namespace: string; reloader?: ReloaderRecord | undefined }[],
): ReloaderShaRequest {
  const named = new Map<string, Set<string>>();
  for (const { namespace, reloader } of workloads) {
    if (!reloader) continue;
    const set = named.get(namespace) ?? new Set<string>();
    if (reloader.lastReloadedFrom) set.add(reloader.lastReloadedFrom.key);
    for (const variable of Object.keys(reloader.env)) set.add(variable);
    named.set(namespace, set);
  }
  return {
    wants: ({ namespace, kind, name }) => {
      const set = named.get(namespace);
      return (
        set !== undefined && (set.has(referenceKey(kind, name)) || set.has(envVarName(kind, name)))
      );
    },
    found: new Map(),
  };
}
