import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Container, V1EnvVar } from '@kubernetes/client-node';
import { defaultAnnotationNames as names } from './annotations.js';
import { recreatedJob } from './apply.js';
import type { Workload, WorkloadKind } from './model.js';
import { recordDigest } from './hashing.js';
import {
  applyOperations,
  envVarName,
  markDue,
  markOperations,
  reloadOperations,
  type JsonPatchOp,
  type PatchContext,
} from './patches.js';
import type { Reload, Trigger } from './plan.js';
import type { SourceKind } from './references.js';
import {
  heldBackLabel,
  podTemplate,
  readRecord,
  toWorkload,
  type RecordValue,
  type WorkloadObject,
} from './workloads.js';

const now = new Date('2024-05-01T12:00:00.000Z');
const earlier = '2024-05-01T11:00:00.000Z';
const keyId = 'key-1';
const recordPath = '/spec/template/metadata/annotations/polling-reloader.io~1reloaded-hashes';
const lastReloadedPath =
  '/spec/template/metadata/annotations/reloader.stakater.com~1last-reloaded-from';

function ctx(overrides: Partial<PatchContext> = {}): PatchContext {
  return { strategy: 'annotations', names, keyId, now, ...overrides };
}

function recordJson(hashes: Record<string, string>, key = keyId, at = earlier): string {
  return JSON.stringify({ key, at, hashes });
}

interface ObjectOptions {
  kind?: WorkloadKind;
  metadataAnnotations?: Record<string, string>;
  templateAnnotations?: Record<string, string> | null;
  /** No metadata on the pod template at all. */
  noTemplateMetadata?: boolean;
  containers?: V1Container[];
  spec?: Record<string, unknown>;
}

function object(o: ObjectOptions = {}): WorkloadObject {
  const kind = o.kind ?? 'Deployment';
  const template: Record<string, unknown> = {
    spec: { containers: o.containers ?? [{ name: 'main', image: 'app:1' }] },
  };
  if (!o.noTemplateMetadata) {
    template.metadata =
      o.templateAnnotations === null
        ? { labels: { app: 'x' } }
        : { labels: { app: 'x' }, annotations: o.templateAnnotations ?? { other: 'kept' } };
  }
  const spec: Record<string, unknown> =
    kind === 'CronJob'
      ? { schedule: '* * * * *', jobTemplate: { spec: { template } } }
      : { replicas: 1, template };
  return {
    apiVersion: 'apps/v1',
    kind,
    metadata: {
      name: 'app',
      namespace: 'ns',
      resourceVersion: '42',
      ...(o.metadataAnnotations ? { annotations: o.metadataAnnotations } : {}),
    },
    spec: { ...spec, ...o.spec },
  };
}

function trigger(kind: SourceKind, name: string, hash: string): Trigger {
  return { kind, name, rule: 'auto', reason: 'updated', hash };
}

function reload(
  triggers: Trigger[],
  overrides: Partial<Omit<Reload, 'workload'>> & { workload?: Partial<Workload> } = {},
): Reload {
  const { workload, ...rest } = overrides;
  return {
    workload: {
      kind: 'Deployment',
      namespace: 'ns',
      name: 'app',
      annotations: {},
      references: [{ kind: 'ConfigMap', name: 'cfg', containers: ['main'] }],
      record: {},
      ...workload,
    },
    triggers,
    record: Object.fromEntries(triggers.map((t) => [`${t.kind}/${t.name}`, t.hash])),
    pause: false,
    resume: false,
    ...rest,
  };
}

function ops(o: WorkloadObject, r: Reload, c: PatchContext = ctx()): JsonPatchOp[] {
  const result = reloadOperations(o, r, c);
  assert.ok(result, 'expected operations');
  return result;
}

function opAt(list: JsonPatchOp[], path: string): JsonPatchOp {
  const found = list.filter((op) => op.path === path);
  assert.equal(found.length, 1, `one op at ${path} in ${JSON.stringify(list, null, 1)}`);
  const [op] = found;
  assert.ok(op);
  return op;
}

function parseRecord(value: unknown): RecordValue {
  assert.equal(typeof value, 'string');
  return JSON.parse(value as string) as RecordValue;
}

function containersOf(o: WorkloadObject): V1Container[] {
  return podTemplate(o, 'Deployment')?.spec?.containers ?? [];
}

function envOf(o: WorkloadObject, index: number): V1EnvVar[] | undefined {
  return containersOf(o)[index]?.env;
}

describe('envVarName', () => {
  it("follows Stakater Reloader's ConvertToEnvVarName", () => {
    assert.equal(envVarName('ConfigMap', 'my.cm--x'), 'STAKATER_MY_CM_X_CONFIGMAP');
    assert.equal(envVarName('ConfigMap', 'app-config'), 'STAKATER_APP_CONFIG_CONFIGMAP');
    assert.equal(envVarName('ConfigMap', 'app2.v1'), 'STAKATER_APP2_V1_CONFIGMAP');
    assert.equal(envVarName('ConfigMap', 'a...b'), 'STAKATER_A_B_CONFIGMAP');
    assert.equal(envVarName('ConfigMap', 'ABC'), 'STAKATER_ABC_CONFIGMAP');
  });

  it('uses the _SECRET suffix for Secrets', () => {
    assert.equal(envVarName('Secret', 'db-creds'), 'STAKATER_DB_CREDS_SECRET');
    assert.equal(envVarName('Secret', 'my.cm--x'), 'STAKATER_MY_CM_X_SECRET');
  });

  it('uses the _SECRETPROVIDERCLASS suffix for SecretProviderClasses', () => {
    assert.equal(
      envVarName('SecretProviderClass', 'vault-db'),
      'STAKATER_VAULT_DB_SECRETPROVIDERCLASS',
    );
  });

  it('writes no _ for leading separators, and one for trailing ones', () => {
    assert.equal(envVarName('ConfigMap', '-.abc'), 'STAKATER_ABC_CONFIGMAP');
    assert.equal(envVarName('ConfigMap', 'abc-'), 'STAKATER_ABC__CONFIGMAP');
    assert.equal(envVarName('ConfigMap', 'abc.-'), 'STAKATER_ABC__CONFIGMAP');
  });
});

describe('reloadOperations', () => {
  it('starts with a test of the resourceVersion', () => {
    const list = ops(object(), reload([trigger('ConfigMap', 'cfg', 'h2')]));
    assert.deepEqual(list[0], { op: 'test', path: '/metadata/resourceVersion', value: '42' });
    assert.equal(list.filter((op) => op.op === 'test').length, 1);
  });

  it('annotations: writes the record and last-reloaded-from on the pod template', () => {
    const r = reload([trigger('ConfigMap', 'cfg', 'h2')], {
      record: { 'ConfigMap/cfg': 'h2', 'Secret/other': 's1' },
    });
    const list = ops(object(), r);
    const record = opAt(list, recordPath);
    assert.equal(record.op, 'add');
    assert.deepEqual(parseRecord(record.value), {
      key: keyId,
      at: now.toISOString(),
      hashes: { 'ConfigMap/cfg': 'h2', 'Secret/other': 's1' },
    });
    const last = opAt(list, lastReloadedPath);
    assert.equal(last.op, 'add');
    assert.deepEqual(JSON.parse(last.value as string), {
      type: 'CONFIGMAP',
      name: 'cfg',
      namespace: 'ns',
      hash: 'h2',
      containerRefs: ['main'],
      observedAt: Math.floor(now.getTime() / 1000),
    });
    // the annotations strategy touches no container
    assert.ok(!list.some((op) => op.path.includes('/containers')));
    assert.ok(!list.some((op) => op.path.startsWith('/spec/paused')));
  });

  it('last-reloaded-from names a Secret as SECRET', () => {
    const r = reload([trigger('Secret', 'creds', 's2')], {
      workload: { references: [] },
    });
    const last = opAt(ops(object(), r), lastReloadedPath);
    const value = JSON.parse(last.value as string) as { type: string; containerRefs: string[] };
    assert.equal(value.type, 'SECRET');
    assert.deepEqual(value.containerRefs, []);
  });

  it('last-reloaded-from names a SecretProviderClass as SECRETPROVIDERCLASS, as Reloader does', () => {
    const r = reload([trigger('SecretProviderClass', 'vault-db', 'p2')], {
      workload: {
        references: [{ kind: 'SecretProviderClass', name: 'vault-db', containers: ['main'] }],
      },
    });
    const last = opAt(ops(object(), r), lastReloadedPath);
    const value = JSON.parse(last.value as string) as Record<string, unknown>;
    assert.equal(value.type, 'SECRETPROVIDERCLASS');
    assert.equal(value.name, 'vault-db');
    assert.deepEqual(value.containerRefs, ['main']);
  });

  it('escapes / (and ~) in annotation keys', () => {
    const list = ops(
      object(),
      reload([trigger('ConfigMap', 'cfg', 'h2')]),
      ctx({ names: { ...names, record: 'a~b/c' } }),
    );
    opAt(list, '/spec/template/metadata/annotations/a~0b~1c');
    assert.ok(list.slice(1).every((op) => !op.path.slice(1).includes('//')));
  });

  it('creates the annotations map when the template has none', () => {
    const list = ops(
      object({ templateAnnotations: null }),
      reload([trigger('ConfigMap', 'cfg', 'h2')]),
    );
    const add = opAt(list, '/spec/template/metadata/annotations');
    assert.equal(add.op, 'add');
    const value = add.value as Record<string, string>;
    assert.deepEqual(Object.keys(value).sort(), [names.record, names.lastReloadedFrom].sort());
    assert.equal(parseRecord(value[names.record]).hashes['ConfigMap/cfg'], 'h2');
  });

  it('creates the template metadata when it is missing', () => {
    const list = ops(
      object({ noTemplateMetadata: true }),
      reload([trigger('ConfigMap', 'cfg', 'h2')]),
    );
    const add = opAt(list, '/spec/template/metadata');
    assert.equal(add.op, 'add');
    const value = add.value as { annotations: Record<string, string> };
    assert.ok(value.annotations[names.record]);
  });

  it('returns undefined when the fresh record (same key) already holds every hash', () => {
    const o = object({
      templateAnnotations: {
        [names.record]: recordJson({ 'ConfigMap/cfg': 'h2', 'Secret/s': 's2' }),
      },
    });
    const r = reload([trigger('ConfigMap', 'cfg', 'h2'), trigger('Secret', 's', 's2')]);
    assert.equal(reloadOperations(o, r, ctx()), undefined);
  });

  it('does not trust a record made with another key', () => {
    const o = object({
      templateAnnotations: { [names.record]: recordJson({ 'ConfigMap/cfg': 'h2' }, 'other-key') },
    });
    const list = reloadOperations(o, reload([trigger('ConfigMap', 'cfg', 'h2')]), ctx());
    assert.ok(list);
    assert.equal(parseRecord(opAt(list, recordPath).value).key, keyId);
  });

  it('reloads for the triggers the fresh record lacks, and keeps what it holds', () => {
    const o = object({
      templateAnnotations: {
        [names.record]: recordJson({ 'ConfigMap/cfg': 'h2', 'Secret/done-elsewhere': 'd1' }),
      },
    });
    const r = reload([trigger('ConfigMap', 'cfg', 'h2'), trigger('Secret', 's', 's2')], {
      workload: {
        references: [
          { kind: 'ConfigMap', name: 'cfg', containers: ['main'] },
          { kind: 'Secret', name: 's', containers: ['main'] },
        ],
      },
    });
    const list = ops(o, r);
    assert.deepEqual(parseRecord(opAt(list, recordPath).value).hashes, {
      'ConfigMap/cfg': 'h2',
      'Secret/s': 's2',
      'Secret/done-elsewhere': 'd1',
    });
    // last-reloaded-from names the first trigger still pending
    const last = JSON.parse(opAt(list, lastReloadedPath).value as string) as { name: string };
    assert.equal(last.name, 's');
  });

  it('patches the job template of a CronJob', () => {
    const o = object({ kind: 'CronJob' });
    const r = reload([trigger('ConfigMap', 'cfg', 'h2')], { workload: { kind: 'CronJob' } });
    const list = ops(o, r);
    opAt(
      list,
      '/spec/jobTemplate/spec/template/metadata/annotations/polling-reloader.io~1reloaded-hashes',
    );
    const next = applyOperations(o, list);
    const fresh = readRecord(next, 'CronJob', names);
    assert.deepEqual(fresh?.hashes, { 'ConfigMap/cfg': 'h2' });
  });

  it('Argo restart: sets spec.restartAt and keeps the record in the metadata', () => {
    const o = object({ kind: 'Rollout', metadataAnnotations: { keep: 'me' } });
    const r = reload([trigger('ConfigMap', 'cfg', 'h2')], {
      workload: { kind: 'Rollout', annotations: { [names.rolloutStrategy]: 'restart' } },
    });
    const list = ops(o, r);
    assert.deepEqual(opAt(list, '/spec/restartAt'), {
      op: 'add',
      path: '/spec/restartAt',
      value: now.toISOString(),
    });
    const record = opAt(list, '/metadata/annotations/polling-reloader.io~1reloaded-hashes');
    assert.deepEqual(parseRecord(record.value).hashes, { 'ConfigMap/cfg': 'h2' });
    assert.ok(!list.some((op) => op.path.startsWith('/spec/template')));
    const next = applyOperations(o, list);
    assert.deepEqual(readRecord(next, 'Rollout', names)?.hashes, { 'ConfigMap/cfg': 'h2' });
    // and the same reload is then already done
    assert.equal(reloadOperations(next, r, ctx()), undefined);
  });

  it('an Argo Rollout without the restart strategy has its template patched', () => {
    const o = object({ kind: 'Rollout' });
    const r = reload([trigger('ConfigMap', 'cfg', 'h2')], { workload: { kind: 'Rollout' } });
    const list = ops(o, r);
    opAt(list, recordPath);
    assert.ok(!list.some((op) => op.path === '/spec/restartAt'));
  });

  describe('env-vars strategy', () => {
    const envCtx = ctx({ strategy: 'env-vars' });
    const twoContainers = (): V1Container[] => [
      { name: 'sidecar', image: 's' },
      { name: 'main', image: 'm' },
    ];

    it('adds the env list on the container that uses the source', () => {
      const o = object({ containers: twoContainers() });
      const list = ops(
        o,
        reload([trigger('ConfigMap', 'my.cm--x', 'h2')], {
          workload: { references: [{ kind: 'ConfigMap', name: 'my.cm--x', containers: ['main'] }] },
        }),
        envCtx,
      );
      assert.deepEqual(opAt(list, '/spec/template/spec/containers/1/env'), {
        op: 'add',
        path: '/spec/template/spec/containers/1/env',
        value: [{ name: 'STAKATER_MY_CM_X_CONFIGMAP', value: 'h2' }],
      });
      assert.ok(!list.some((op) => op.path.startsWith('/spec/template/spec/containers/0')));
      // the record is still written; last-reloaded-from is not
      opAt(list, recordPath);
      assert.ok(!list.some((op) => op.path === lastReloadedPath));
      const next = applyOperations(o, list);
      assert.equal(envOf(next, 0), undefined);
      assert.deepEqual(envOf(next, 1), [{ name: 'STAKATER_MY_CM_X_CONFIGMAP', value: 'h2' }]);
    });

    it('replaces the variable when the container already has it', () => {
      const o = object({
        containers: [
          {
            name: 'main',
            env: [
              { name: 'A', value: 'a' },
              { name: 'STAKATER_CFG_CONFIGMAP', value: 'h1' },
            ],
          },
        ],
      });
      const list = ops(o, reload([trigger('ConfigMap', 'cfg', 'h2')]), envCtx);
      assert.deepEqual(opAt(list, '/spec/template/spec/containers/0/env/1'), {
        op: 'replace',
        path: '/spec/template/spec/containers/0/env/1',
        value: { name: 'STAKATER_CFG_CONFIGMAP', value: 'h2' },
      });
      assert.deepEqual(envOf(applyOperations(o, list), 0), [
        { name: 'A', value: 'a' },
        { name: 'STAKATER_CFG_CONFIGMAP', value: 'h2' },
      ]);
    });

    it('appends the variable to an existing env list', () => {
      const o = object({ containers: [{ name: 'main', env: [{ name: 'A', value: 'a' }] }] });
      const list = ops(
        o,
        reload([trigger('Secret', 'db', 's2')], {
          workload: { references: [{ kind: 'Secret', name: 'db', containers: ['main'] }] },
        }),
        envCtx,
      );
      assert.deepEqual(opAt(list, '/spec/template/spec/containers/0/env/-'), {
        op: 'add',
        path: '/spec/template/spec/containers/0/env/-',
        value: { name: 'STAKATER_DB_SECRET', value: 's2' },
      });
      assert.deepEqual(envOf(applyOperations(o, list), 0), [
        { name: 'A', value: 'a' },
        { name: 'STAKATER_DB_SECRET', value: 's2' },
      ]);
    });

    it('sets several variables on one container without an env list in one valid patch', () => {
      const o = object({ containers: twoContainers() });
      const r = reload([trigger('ConfigMap', 'cfg', 'h2'), trigger('Secret', 'db', 's2')], {
        workload: {
          references: [
            { kind: 'ConfigMap', name: 'cfg', containers: ['main'] },
            { kind: 'Secret', name: 'db', containers: ['main'] },
          ],
        },
      });
      const next = applyOperations(o, ops(o, r, envCtx));
      assert.deepEqual(envOf(next, 1), [
        { name: 'STAKATER_CFG_CONFIGMAP', value: 'h2' },
        { name: 'STAKATER_DB_SECRET', value: 's2' },
      ]);
      assert.equal(envOf(next, 0), undefined);
    });

    it('uses the first container for a source no regular container references', () => {
      const o = object({ containers: twoContainers() });
      const r = reload([trigger('ConfigMap', 'listed', 'h2')], {
        workload: { references: [{ kind: 'ConfigMap', name: 'cfg', containers: ['main'] }] },
      });
      const next = applyOperations(o, ops(o, r, envCtx));
      assert.deepEqual(envOf(next, 0), [{ name: 'STAKATER_LISTED_CONFIGMAP', value: 'h2' }]);
      assert.equal(envOf(next, 1), undefined);
    });

    it('uses the first container for a source only an init container uses', () => {
      const o = object({ containers: twoContainers() });
      const r = reload([trigger('Secret', 'init', 's2')], {
        workload: { references: [{ kind: 'Secret', name: 'init', containers: ['setup'] }] },
      });
      const next = applyOperations(o, ops(o, r, envCtx));
      assert.deepEqual(envOf(next, 0), [{ name: 'STAKATER_INIT_SECRET', value: 's2' }]);
    });
  });

  describe('pause and resume', () => {
    it('pauses a Deployment: spec.paused and paused-at, and keeps the record time', () => {
      const o = object({
        templateAnnotations: { [names.record]: recordJson({ 'ConfigMap/cfg': 'h1' }) },
        metadataAnnotations: { owner: 'me' },
      });
      const list = ops(o, reload([trigger('ConfigMap', 'cfg', 'h2')], { pause: true }));
      assert.deepEqual(opAt(list, '/spec/paused'), {
        op: 'add',
        path: '/spec/paused',
        value: true,
      });
      assert.deepEqual(
        opAt(list, '/metadata/annotations/deployment.reloader.stakater.com~1paused-at'),
        {
          op: 'add',
          path: '/metadata/annotations/deployment.reloader.stakater.com~1paused-at',
          value: now.toISOString(),
        },
      );
      const record = parseRecord(opAt(list, recordPath).value);
      assert.equal(record.at, earlier);
      assert.deepEqual(record.hashes, { 'ConfigMap/cfg': 'h2' });
    });

    it('creates the metadata annotations map to record paused-at', () => {
      const list = ops(object(), reload([trigger('ConfigMap', 'cfg', 'h2')], { pause: true }));
      assert.deepEqual(opAt(list, '/metadata/annotations'), {
        op: 'add',
        path: '/metadata/annotations',
        value: { [names.pausedAt]: now.toISOString() },
      });
    });

    it('does not pause again a Deployment that is already paused', () => {
      const o = object({
        spec: { paused: true },
        metadataAnnotations: { [names.pausedAt]: earlier },
      });
      const list = ops(o, reload([trigger('ConfigMap', 'cfg', 'h2')], { pause: true }));
      assert.ok(!list.some((op) => op.path === '/spec/paused'));
      assert.ok(!list.some((op) => op.path.startsWith('/metadata/annotations')));
      opAt(list, recordPath);
    });

    it('resumes with nothing pending: unpauses and removes paused-at', () => {
      const o = object({
        spec: { paused: true },
        templateAnnotations: { [names.record]: recordJson({ 'ConfigMap/cfg': 'h2' }) },
        metadataAnnotations: { [names.pausedAt]: earlier, owner: 'me' },
      });
      const list = ops(o, reload([], { resume: true, record: { 'ConfigMap/cfg': 'h2' } }));
      assert.deepEqual(list, [
        { op: 'test', path: '/metadata/resourceVersion', value: '42' },
        { op: 'add', path: '/spec/paused', value: false },
        { op: 'remove', path: '/metadata/annotations/deployment.reloader.stakater.com~1paused-at' },
      ]);
      const next = applyOperations(o, list);
      assert.equal(next.spec?.paused, false);
      assert.deepEqual(next.metadata?.annotations, { owner: 'me' });
    });

    it('does not remove a paused-at annotation that is not there', () => {
      const o = object({ spec: { paused: true }, metadataAnnotations: { owner: 'me' } });
      const list = ops(o, reload([], { resume: true }));
      assert.ok(!list.some((op) => op.op === 'remove'));
      opAt(list, '/spec/paused');
    });

    it('resumes and reloads at once, with a new record time', () => {
      const o = object({
        spec: { paused: true },
        metadataAnnotations: { [names.pausedAt]: earlier },
      });
      const list = ops(o, reload([trigger('ConfigMap', 'cfg', 'h2')], { resume: true }));
      assert.equal(opAt(list, '/spec/paused').value, false);
      assert.equal(parseRecord(opAt(list, recordPath).value).at, now.toISOString());
    });
  });
});

describe('applyOperations', () => {
  const original = () => ({
    metadata: { name: 'x', annotations: { 'a/b': '1', 'c~d': '2', keep: '3' } },
    list: [1, 2, 3],
    nested: { deep: { value: 'old' } },
  });

  it('applies add, replace and remove to objects, with escaped keys', () => {
    const next = applyOperations(original(), [
      { op: 'test', path: '/metadata/name', value: 'not-checked' },
      { op: 'add', path: '/metadata/annotations/new~1key', value: 'n' },
      { op: 'replace', path: '/metadata/annotations/c~0d', value: 'r' },
      { op: 'remove', path: '/metadata/annotations/a~1b' },
      { op: 'replace', path: '/nested/deep/value', value: 'new' },
      { op: 'add', path: '/nested/added', value: { x: 1 } },
    ]);
    assert.deepEqual(next, {
      metadata: { name: 'x', annotations: { 'c~d': 'r', keep: '3', 'new/key': 'n' } },
      list: [1, 2, 3],
      nested: { deep: { value: 'new' }, added: { x: 1 } },
    });
  });

  it('applies add (insert and append), replace and remove to arrays', () => {
    assert.deepEqual(
      applyOperations(original(), [{ op: 'add', path: '/list/1', value: 9 }]).list,
      [1, 9, 2, 3],
    );
    assert.deepEqual(
      applyOperations(original(), [{ op: 'add', path: '/list/-', value: 9 }]).list,
      [1, 2, 3, 9],
    );
    assert.deepEqual(
      applyOperations(original(), [{ op: 'replace', path: '/list/0', value: 9 }]).list,
      [9, 2, 3],
    );
    assert.deepEqual(applyOperations(original(), [{ op: 'remove', path: '/list/1' }]).list, [1, 3]);
  });

  it('applies operations in order', () => {
    const next = applyOperations(original(), [
      { op: 'add', path: '/list/0', value: 0 },
      { op: 'replace', path: '/list/1', value: 9 },
      { op: 'remove', path: '/list/3' },
    ]);
    assert.deepEqual(next.list, [0, 9, 2]);
  });

  it('works on a copy and leaves the input untouched', () => {
    const input = original();
    const snapshot = structuredClone(input);
    const next = applyOperations(input, [
      { op: 'remove', path: '/metadata/annotations/keep' },
      { op: 'add', path: '/list/-', value: 4 },
      { op: 'replace', path: '/nested/deep/value', value: 'new' },
    ]);
    assert.deepEqual(input, snapshot);
    assert.notEqual(next, input);
    assert.notEqual(next.nested, input.nested);
    assert.equal(next.nested.deep.value, 'new');
  });

  it('returns an equal copy for no operations', () => {
    const input = original();
    const next = applyOperations(input, []);
    assert.deepEqual(next, input);
    assert.notEqual(next, input);
  });
});

describe('recreatedJob', () => {
  function job(manualSelector = false): WorkloadObject {
    return {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name: 'migrate',
        namespace: 'ns',
        uid: 'u-1',
        resourceVersion: '9',
        creationTimestamp: new Date(earlier),
        labels: { app: 'm', 'controller-uid': 'u-1', 'batch.kubernetes.io/job-name': 'migrate' },
        annotations: { note: 'n' },
      },
      spec: {
        manualSelector,
        selector: { matchLabels: { 'controller-uid': 'u-1' } },
        template: {
          metadata: {
            labels: {
              app: 'm',
              'controller-uid': 'u-1',
              'batch.kubernetes.io/controller-uid': 'u-1',
              'job-name': 'migrate',
            },
          },
          spec: { containers: [{ name: 'main' }], restartPolicy: 'Never' },
        },
      },
      status: { conditions: [] },
    };
  }

  it('applies the patch and strips what the controller generated', () => {
    const input = job();
    const snapshot = structuredClone(input);
    const next = recreatedJob(input, [
      { op: 'test', path: '/metadata/resourceVersion', value: '9' },
      { op: 'add', path: '/spec/template/metadata/annotations', value: { r: 'h2' } },
    ]);
    assert.deepEqual(next, {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name: 'migrate',
        namespace: 'ns',
        labels: { app: 'm' },
        annotations: { note: 'n' },
      },
      spec: {
        manualSelector: false,
        template: {
          metadata: { labels: { app: 'm' }, annotations: { r: 'h2' } },
          spec: { containers: [{ name: 'main' }], restartPolicy: 'Never' },
        },
      },
    });
    assert.deepEqual(input, snapshot);
  });

  it('keeps the ownerReferences, so that its owner (a CronJob) still owns it', () => {
    const input = job();
    const owner = {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      name: 'nightly',
      uid: 'c-1',
      controller: true,
      blockOwnerDeletion: true,
    };
    if (input.metadata) input.metadata.ownerReferences = [owner];
    assert.deepEqual(recreatedJob(input, []).metadata?.ownerReferences, [owner]);
  });

  it('keeps the selector and labels of a Job with a manual selector', () => {
    const next = recreatedJob(job(true), []);
    const spec = next.spec as { selector?: unknown; template: { metadata: { labels: object } } };
    assert.deepEqual(spec.selector, { matchLabels: { 'controller-uid': 'u-1' } });
    assert.equal(Object.keys(spec.template.metadata.labels).length, 4);
    assert.deepEqual(next.metadata, {
      name: 'migrate',
      namespace: 'ns',
      labels: { app: 'm', 'controller-uid': 'u-1', 'batch.kubernetes.io/job-name': 'migrate' },
      annotations: { note: 'n' },
    });
  });
});

describe('readRecord and toWorkload', () => {
  it('reads the record from the pod template, else from the metadata', () => {
    const inTemplate = object({ templateAnnotations: { [names.record]: recordJson({ a: '1' }) } });
    assert.deepEqual(readRecord(inTemplate, 'Deployment', names), {
      key: keyId,
      at: earlier,
      hashes: { a: '1' },
    });
    const inMetadata = object({ metadataAnnotations: { [names.record]: recordJson({ b: '2' }) } });
    assert.deepEqual(readRecord(inMetadata, 'Deployment', names)?.hashes, { b: '2' });
  });

  it('ignores a missing or malformed record', () => {
    assert.equal(readRecord(object(), 'Deployment', names), undefined);
    for (const raw of ['not json', '{"hashes":{}}', '{"key":"k"}', '""']) {
      const o = object({ templateAnnotations: { [names.record]: raw } });
      assert.equal(readRecord(o, 'Deployment', names), undefined, raw);
    }
  });

  it('keeps the reloader annotations, workload over template, and the record of its key', () => {
    const o = object({
      templateAnnotations: {
        [names.auto]: 'false',
        [names.search]: 'true',
        'unrelated/annotation': 'x',
        [names.record]: recordJson({ 'ConfigMap/cfg': 'h1' }),
      },
      metadataAnnotations: { [names.auto]: 'true', 'kubectl.kubernetes.io/last-applied': '{}' },
      containers: [{ name: 'main', envFrom: [{ configMapRef: { name: 'cfg' } }] }],
    });
    const w = toWorkload(o, 'Deployment', names, keyId);
    assert.ok(w);
    assert.equal(w.annotations[names.auto], 'true');
    assert.equal(w.annotations[names.search], 'true');
    assert.equal(w.annotations['unrelated/annotation'], undefined);
    assert.equal(w.annotations['kubectl.kubernetes.io/last-applied'], undefined);
    assert.deepEqual(w.record, { 'ConfigMap/cfg': 'h1' });
    assert.equal(w.reloadedAt, earlier);
    assert.deepEqual(w.references, [{ kind: 'ConfigMap', name: 'cfg', containers: ['main'] }]);
    assert.equal(w.pausedAt, undefined);
  });

  it('does not use a record made with another key', () => {
    const o = object({
      templateAnnotations: { [names.record]: recordJson({ 'ConfigMap/cfg': 'h1' }, 'old-key') },
    });
    assert.deepEqual(toWorkload(o, 'Deployment', names, keyId)?.record, {});
  });

  it('reads paused-at only while the Deployment is paused', () => {
    const paused = object({
      spec: { paused: true },
      metadataAnnotations: { [names.pausedAt]: earlier },
    });
    assert.equal(toWorkload(paused, 'Deployment', names, keyId)?.pausedAt, earlier);
    const resumed = object({ metadataAnnotations: { [names.pausedAt]: earlier } });
    assert.equal(toWorkload(resumed, 'Deployment', names, keyId)?.pausedAt, undefined);
  });

  it('skips an object without a name or namespace', () => {
    const o = object();
    assert.equal(
      toWorkload({ ...o, metadata: { name: 'x' } }, 'Deployment', names, keyId),
      undefined,
    );
  });
});

describe('held-back label (batches)', () => {
  const labelPath = '/metadata/labels/polling-reloader.io~1held-back';
  const held = reload([trigger('ConfigMap', 'cfg', 'h2')]);
  const digest = recordDigest(held.record);
  const labelled = (value: string): WorkloadObject => {
    const o = object();
    if (o.metadata) o.metadata.labels = { app: 'x', [heldBackLabel]: value };
    return o;
  };

  it('labels the metadata with the digest of the record the reload will write: no template change', () => {
    const result = markOperations(object(), held, ctx());
    assert.deepEqual(result, [
      { op: 'test', path: '/metadata/resourceVersion', value: '42' },
      { op: 'add', path: '/metadata/labels', value: { [heldBackLabel]: digest } },
    ]);
    const changed = applyOperations(
      labelled('other'),
      markOperations(labelled('other'), held, ctx()) ?? [],
    );
    assert.deepEqual(changed.metadata?.labels, { app: 'x', [heldBackLabel]: digest });
    assert.deepEqual(changed.spec, object().spec);
  });

  it('writes nothing when the label already says it, or the workload already runs the hashes', () => {
    assert.equal(markOperations(labelled(digest), held, ctx()), undefined);
    const done = object({
      templateAnnotations: { [names.record]: recordJson({ 'ConfigMap/cfg': 'h2' }) },
    });
    assert.equal(markOperations(done, held, ctx()), undefined);
  });

  it('markDue reads the listed label: no read, no write when it already says it', () => {
    assert.equal(markDue(held), true);
    assert.equal(markDue({ ...held, workload: { ...held.workload, heldBack: digest } }), false);
  });

  it('a reload removes the label; without one, it touches no label', () => {
    assert.deepEqual(opAt(ops(labelled(digest), held), labelPath), {
      op: 'remove',
      path: labelPath,
    });
    assert.equal(
      ops(object(), held).some((op) => op.path.includes('/metadata/labels')),
      false,
    );
  });

  it('toWorkload reads the label', () => {
    assert.equal(toWorkload(labelled(digest), 'Deployment', names, keyId)?.heldBack, digest);
    assert.equal(toWorkload(object(), 'Deployment', names, keyId)?.heldBack, undefined);
  });
});
