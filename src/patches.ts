import type { V1Container, V1ObjectMeta } from '@kubernetes/client-node';
import type { AnnotationNames } from './annotations.js';
import { recordDigest } from './hashing.js';
import type { Workload } from './model.js';
import type { Reload, Trigger } from './plan.js';
import { referenceKey, reloaderTypeName } from './references.js';
import { envVarName } from './reloader-records.js';
import {
  heldBackLabel,
  kindInfo,
  podTemplate,
  readRecord,
  type RecordValue,
  type WorkloadObject,
} from './workloads.js';

export { envVarName };

export type ReloadStrategy = 'annotations' | 'env-vars';

export interface JsonPatchOp {
  op: 'add' | 'replace' | 'remove' | 'test';
  path: string;
  value?: unknown;
}

export interface PatchContext {
  strategy: ReloadStrategy;
  names: AnnotationNames;
  keyId: string;
  now: Date;
}

/**
 * The JSON Patch that performs one reload on the object as it is now, or undefined when the
 * object already runs with every hash (another instance, or an earlier run, did it). It starts
 * with a test of the resourceVersion, so that a concurrent change makes it fail instead of
 * overwriting.
 */
export function reloadOperations(
  obj: WorkloadObject,
  reload: Reload,
  ctx: PatchContext,
): JsonPatchOp[] | undefined {
  const kind = reload.workload.kind;
  const fresh = readRecord(obj, kind, ctx.names);
  const done = fresh?.key === ctx.keyId ? fresh.hashes : {};
  const pending = reload.triggers.filter((t) => done[referenceKey(t.kind, t.name)] !== t.hash);
  if (pending.length === 0 && !reload.resume) return undefined;
  const ops: JsonPatchOp[] = [
    { op: 'test', path: '/metadata/resourceVersion', value: obj.metadata?.resourceVersion },
  ];
  const record: RecordValue = {
    key: ctx.keyId,
    at: reload.pause ? fresh?.at : ctx.now.toISOString(),
    hashes: { ...reload.record, ...done, ...hashesOf(pending) },
  };
  const metaOps: Record<string, string | null> = {};
  if (pending.length > 0) {
    if (
      kind === 'Rollout' &&
      reload.workload.annotations[ctx.names.rolloutStrategy] === 'restart'
    ) {
      ops.push({ op: 'add', path: '/spec/restartAt', value: ctx.now.toISOString() });
      metaOps[ctx.names.record] = JSON.stringify(record);
    } else {
      ops.push(...templateOps(obj, reload.workload, pending, record, ctx));
    }
  }
  ops.push(...pauseOps(obj, reload, ctx, metaOps));
  ops.push(...annotationOps('/metadata', obj.metadata, metaOps));
  ops.push(...unlabelOps(obj));
  return ops;
}

/** Rolled now: the label of a batch that held the reload back has served. */
function unlabelOps(obj: WorkloadObject): JsonPatchOp[] {
  if (obj.metadata?.labels?.[heldBackLabel] === undefined) return [];
  return [{ op: 'remove', path: `/metadata/labels/${escapePointer(heldBackLabel)}` }];
}

/**
 * The JSON Patch that labels a workload whose reload a batch holds back with the digest of the
 * record the reload will write (`recordDigest`). A pass without the state (lost, or another
 * instance's) still sees from it that the workload is owed the reload. A label changes no
 * generation, so nothing rolls. Undefined when the object runs with every hash already, or its
 * label already says so.
 */
export function markOperations(
  obj: WorkloadObject,
  reload: Reload,
  ctx: PatchContext,
): JsonPatchOp[] | undefined {
  const fresh = readRecord(obj, reload.workload.kind, ctx.names);
  const done = fresh?.key === ctx.keyId ? fresh.hashes : {};
  if (reload.triggers.every((t) => done[referenceKey(t.kind, t.name)] === t.hash)) return undefined;
  const digest = recordDigest(reload.record);
  const labels = obj.metadata?.labels;
  if (labels?.[heldBackLabel] === digest) return undefined;
  return [
    { op: 'test', path: '/metadata/resourceVersion', value: obj.metadata?.resourceVersion },
    labels
      ? { op: 'add', path: `/metadata/labels/${escapePointer(heldBackLabel)}`, value: digest }
      : { op: 'add', path: '/metadata/labels', value: { [heldBackLabel]: digest } },
  ];
}

/** Whether a held-back reload needs its label written: the listed workload's does not say it. */
export function markDue(reload: Reload): boolean {
  return reload.workload.heldBack !== recordDigest(reload.record);
}

/** Holds a Deployment's rollout back (spec.paused, paused-at), or lets it go on. */
function pauseOps(
  obj: WorkloadObject,
  reload: Reload,
  ctx: PatchContext,
  metaOps: Record<string, string | null>,
): JsonPatchOp[] {
  const paused = (obj.spec as { paused?: boolean } | undefined)?.paused === true;
  if (reload.resume) {
    metaOps[ctx.names.pausedAt] = null;
    return [{ op: 'add', path: '/spec/paused', value: false }];
  }
  if (!reload.pause || paused) return [];
  metaOps[ctx.names.pausedAt] = ctx.now.toISOString();
  return [{ op: 'add', path: '/spec/paused', value: true }];
}

function hashesOf(triggers: Trigger[]): Record<string, string> {
  return Object.fromEntries(triggers.map((t) => [referenceKey(t.kind, t.name), t.hash]));
}

function templateOps(
  obj: WorkloadObject,
  workload: Workload,
  pending: Trigger[],
  record: RecordValue,
  ctx: PatchContext,
): JsonPatchOp[] {
  const base = `/${kindInfo[workload.kind].template.join('/')}`;
  const template = podTemplate(obj, workload.kind);
  const annotations: Record<string, string> = { [ctx.names.record]: JSON.stringify(record) };
  const ops: JsonPatchOp[] = [];
  if (ctx.strategy === 'annotations') {
    const first = pending[0];
    if (first) annotations[ctx.names.lastReloadedFrom] = lastReloadedFrom(workload, first, ctx.now);
  } else {
    ops.push(
      ...envOps(`${base}/spec/containers`, template?.spec?.containers ?? [], workload, pending),
    );
  }
  return [...annotationOps(`${base}/metadata`, template?.metadata, annotations), ...ops];
}

/** Stakater Reloader's `last-reloaded-from` value, with the keyed hash. */
function lastReloadedFrom(workload: Workload, trigger: Trigger, now: Date): string {
  const ref = workload.references.find((r) => r.kind === trigger.kind && r.name === trigger.name);
  return JSON.stringify({
    type: reloaderTypeName[trigger.kind],
    name: trigger.name,
    namespace: workload.namespace,
    hash: trigger.hash,
    containerRefs: ref?.containers ?? [],
    observedAt: Math.floor(now.getTime() / 1000),
  });
}

/** Sets each trigger's env var on the first regular container that uses the source. */
function envOps(
  base: string,
  containers: V1Container[],
  workload: Workload,
  pending: Trigger[],
): JsonPatchOp[] {
  const ops: JsonPatchOp[] = [];
  const envs = containers.map((c) => c.env?.map((e) => e.name));
  for (const trigger of pending) {
    const users =
      workload.references.find((r) => r.kind === trigger.kind && r.name === trigger.name)
        ?.containers ?? [];
    const index = Math.max(
      0,
      containers.findIndex((c) => users.includes(c.name)),
    );
    if (!containers[index]) continue;
    const name = envVarName(trigger.kind, trigger.name);
    const env = envs[index];
    const at = env?.indexOf(name) ?? -1;
    if (!env) {
      ops.push({ op: 'add', path: `${base}/${index}/env`, value: [{ name, value: trigger.hash }] });
      envs[index] = [name];
    } else if (at >= 0) {
      ops.push({
        op: 'replace',
        path: `${base}/${index}/env/${at}`,
        value: { name, value: trigger.hash },
      });
    } else {
      ops.push({ op: 'add', path: `${base}/${index}/env/-`, value: { name, value: trigger.hash } });
      env.push(name);
    }
  }
  return ops;
}

/** Sets (or, for null, removes) annotations under a metadata pointer, creating maps as needed. */
function annotationOps(
  metaPath: string,
  meta: V1ObjectMeta | undefined,
  entries: Record<string, string | null>,
): JsonPatchOp[] {
  const set = Object.fromEntries(Object.entries(entries).filter(([, v]) => v !== null));
  const existing = meta?.annotations;
  if (!meta)
    return Object.keys(set).length
      ? [{ op: 'add', path: metaPath, value: { annotations: set } }]
      : [];
  if (!existing)
    return Object.keys(set).length
      ? [{ op: 'add', path: `${metaPath}/annotations`, value: set }]
      : [];
  const ops: JsonPatchOp[] = [];
  for (const [key, value] of Object.entries(entries)) {
    const path = `${metaPath}/annotations/${escapePointer(key)}`;
    if (value !== null) ops.push({ op: 'add', path, value });
    else if (key in existing) ops.push({ op: 'remove', path });
  }
  return ops;
}

function escapePointer(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Applies JSON Patch operations to a copy of an object (used to re-create Jobs). */
export function applyOperations<T>(obj: T, ops: JsonPatchOp[]): T {
  const copy = structuredClone(obj);
  for (const { op, path, value } of ops) {
    if (op === 'test') continue;
    const tokens = path
      .split('/')
      .slice(1)
      .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = tokens.pop() ?? '';
    let parent: unknown = copy;
    for (const token of tokens) parent = (parent as Record<string, unknown>)[token];
    if (Array.isArray(parent)) {
      if (op === 'remove') parent.splice(Number(last), 1);
      else if (last === '-') parent.push(value);
      else if (op === 'add') parent.splice(Number(last), 0, value);
      else parent[Number(last)] = value;
    } else {
      const target = parent as Record<string, unknown>;
      if (op === 'remove') Reflect.deleteProperty(target, last);
      else target[last] = value;
    }
  }
  return copy;
}
