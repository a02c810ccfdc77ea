import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultAnnotationNames as names } from './annotations.js';
import { DELETED, type Change, type ChangeType, type Source, type Workload } from './model.js';
import { planPass, type Plan, type PlanInput, type PlanOptions, type Reload } from './plan.js';
import { recordDigest } from './hashing.js';
import type { SourceKind } from './references.js';

const now = new Date('2024-05-01T12:00:00.000Z');
const minutesAgo = (minutes: number): string =>
  new Date(now.getTime() - minutes * 60_000).toISOString();

function options(overrides: Partial<PlanOptions> = {}): PlanOptions {
  return {
    names,
    autoReloadAll: false,
    reloadOnCreate: false,
    reloadOnDelete: false,
    ...overrides,
  };
}

function source(kind: SourceKind, name: string, hash: string, extra: Partial<Source> = {}): Source {
  return { kind, namespace: 'ns', name, uid: `uid-${name}`, resourceVersion: '1', hash, ...extra };
}

function change(kind: SourceKind, name: string, type: ChangeType, hash: string): Change {
  return { kind, namespace: 'ns', name, type, hash };
}

function updated(kind: SourceKind, name: string, hash: string): Change {
  return change(kind, name, 'updated', hash);
}

function workload(overrides: Partial<Workload> = {}): Workload {
  return {
    kind: 'Deployment',
    namespace: 'ns',
    name: 'app',
    annotations: {},
    references: [],
    record: {},
    ...overrides,
  };
}

function ref(kind: SourceKind, name: string): Workload['references'][number] {
  return { kind, name, containers: ['main'] };
}

function plan(input: Partial<PlanInput>): Plan {
  return planPass({
    sources: [],
    changes: [],
    workloads: [],
    options: options(),
    now,
    ...input,
  });
}

/** The plan's single reload; fails when there is not exactly one. */
function single(p: Plan): Reload {
  assert.equal(p.reloads.length, 1, `expected one reload, got ${p.reloads.length}`);
  const [reload] = p.reloads;
  assert.ok(reload);
  return reload;
}

/**
 * One ConfigMap `cfg` updated from `old` to `new`, and one workload with the given annotations
 * (and a reference to `cfg` unless told otherwise): the rule that decided, or undefined.
 */
function ruleFor(
  annotations: Record<string, string>,
  opts: { referenced?: boolean; autoReloadAll?: boolean; source?: Partial<Source> } = {},
): string | undefined {
  const p = plan({
    sources: [source('ConfigMap', 'cfg', 'new', opts.source)],
    changes: [updated('ConfigMap', 'cfg', 'new')],
    workloads: [
      workload({
        annotations,
        references: opts.referenced === false ? [] : [ref('ConfigMap', 'cfg')],
      }),
    ],
    options: options({ autoReloadAll: opts.autoReloadAll ?? false }),
  });
  assert.ok(p.reloads.length <= 1);
  const triggers = p.reloads[0]?.triggers ?? [];
  assert.ok(triggers.length <= 1);
  return triggers[0]?.rule;
}

describe('planPass: decision order (SPEC §2)', () => {
  it('nothing without any annotation or flag, even for a referenced source', () => {
    assert.equal(ruleFor({}), undefined);
  });

  it('an object annotated ignore triggers nothing, whatever the workload says', () => {
    const all = {
      [names.auto]: 'true',
      [names.configmapAuto]: 'true',
      [names.configmapReload]: 'cfg',
      [names.search]: 'true',
    };
    assert.equal(ruleFor(all, { source: { ignore: 'true', match: 'true' } }), undefined);
    assert.equal(ruleFor(all, { source: { ignore: ' TRUE ' } }), undefined);
    assert.equal(ruleFor({}, { autoReloadAll: true, source: { ignore: 'true' } }), undefined);
    // ignore: "false" is no ignore
    assert.equal(ruleFor({ [names.auto]: 'true' }, { source: { ignore: 'false' } }), 'auto');
  });

  it('an excluded name triggers nothing, even when named in the reload list or under auto', () => {
    assert.equal(
      ruleFor({
        [names.configmapExclude]: 'other, cfg',
        [names.configmapReload]: 'cfg',
        [names.auto]: 'true',
        [names.configmapAuto]: 'true',
      }),
      undefined,
    );
    assert.equal(ruleFor({ [names.configmapExclude]: 'cfg' }, { autoReloadAll: true }), undefined);
  });

  it('an exclusion is by exact name and by type', () => {
    // not a pattern: `c.g` excludes nothing called cfg
    assert.equal(ruleFor({ [names.configmapExclude]: 'c.g', [names.auto]: 'true' }), 'auto');
    // the Secret exclusion list does not exclude a ConfigMap
    assert.equal(ruleFor({ [names.secretExclude]: 'cfg', [names.auto]: 'true' }), 'auto');
  });

  it('the reload list comes before search and auto', () => {
    assert.equal(
      ruleFor(
        {
          [names.configmapReload]: 'cfg',
          [names.search]: 'true',
          [names.auto]: 'true',
          [names.configmapAuto]: 'true',
        },
        { source: { match: 'true' } },
      ),
      'reload-list',
    );
  });

  it('the reload list needs no reference from the pod spec', () => {
    assert.equal(ruleFor({ [names.configmapReload]: 'cfg' }, { referenced: false }), 'reload-list');
    assert.equal(
      ruleFor({ [names.configmapReload]: 'nothing, c.g' }, { referenced: false }),
      'reload-list',
    );
  });

  it('reload list patterns are anchored to the whole name', () => {
    const p = plan({
      sources: [
        source('ConfigMap', 'app', 'h1'),
        source('ConfigMap', 'app-2', 'h2'),
        source('ConfigMap', 'my-app', 'h3'),
        source('ConfigMap', 'web-9', 'h4'),
      ],
      changes: [
        updated('ConfigMap', 'app', 'h1'),
        updated('ConfigMap', 'app-2', 'h2'),
        updated('ConfigMap', 'my-app', 'h3'),
        updated('ConfigMap', 'web-9', 'h4'),
      ],
      workloads: [workload({ annotations: { [names.configmapReload]: 'app, web-\\d' } })],
    });
    const reload = single(p);
    assert.deepEqual(reload.triggers.map((t) => t.name).sort(), ['app', 'web-9']);
    assert.ok(reload.triggers.every((t) => t.rule === 'reload-list'));
  });

  it('the reload list of one type does not name objects of the other', () => {
    const p = plan({
      sources: [source('ConfigMap', 'shared', 'h1'), source('Secret', 'shared', 'h2')],
      changes: [updated('ConfigMap', 'shared', 'h1'), updated('Secret', 'shared', 'h2')],
      workloads: [workload({ annotations: { [names.secretReload]: 'shared' } })],
    });
    const reload = single(p);
    assert.deepEqual(
      reload.triggers.map((t) => [t.kind, t.name, t.rule]),
      [['Secret', 'shared', 'reload-list']],
    );
  });

  it('search reloads for a referenced object that carries match: "true"', () => {
    assert.equal(ruleFor({ [names.search]: 'true' }, { source: { match: 'true' } }), 'search');
    // search comes before auto
    assert.equal(
      ruleFor({ [names.search]: 'true', [names.auto]: 'true' }, { source: { match: 'true' } }),
      'search',
    );
  });

  it('search needs a reference, the match annotation, and search itself', () => {
    assert.equal(
      ruleFor({ [names.search]: 'true' }, { referenced: false, source: { match: 'true' } }),
      undefined,
    );
    assert.equal(ruleFor({ [names.search]: 'true' }), undefined);
    assert.equal(ruleFor({ [names.search]: 'true' }, { source: { match: 'false' } }), undefined);
    assert.equal(ruleFor({}, { source: { match: 'true' } }), undefined);
    assert.equal(ruleFor({ [names.search]: 'false' }, { source: { match: 'true' } }), undefined);
  });

  it('a source the workload no longer references (only in its record) needs a reload list', () => {
    const p = (annotations: Record<string, string>, autoReloadAll = false): Plan =>
      plan({
        sources: [source('ConfigMap', 'cfg', 'new', { match: 'true' })],
        changes: [updated('ConfigMap', 'cfg', 'new')],
        workloads: [workload({ annotations, record: { 'ConfigMap/cfg': 'old' } })],
        options: options({ autoReloadAll }),
      });
    assert.deepEqual(p({ [names.search]: 'true' }).reloads, []);
    assert.deepEqual(p({ [names.auto]: 'true' }).reloads, []);
    assert.deepEqual(p({ [names.configmapAuto]: 'true' }).reloads, []);
    assert.deepEqual(p({}, true).reloads, []);
    assert.equal(single(p({ [names.configmapReload]: 'cfg' })).triggers[0]?.rule, 'reload-list');
  });

  it('search without match falls through to auto', () => {
    assert.equal(ruleFor({ [names.search]: 'true', [names.auto]: 'true' }), 'auto');
  });

  it('typed auto reloads for referenced objects of its type only', () => {
    assert.equal(ruleFor({ [names.configmapAuto]: 'true' }), 'typed-auto');
    assert.equal(ruleFor({ [names.secretAuto]: 'true' }), undefined);
    assert.equal(ruleFor({ [names.configmapAuto]: 'true' }, { referenced: false }), undefined);
  });

  it('typed and generic auto enable reloads when either is true, as in Reloader', () => {
    assert.equal(ruleFor({ [names.configmapAuto]: 'true', [names.auto]: 'false' }), 'typed-auto');
    assert.equal(ruleFor({ [names.configmapAuto]: 'true', [names.auto]: 'true' }), 'typed-auto');
    assert.equal(ruleFor({ [names.configmapAuto]: 'false', [names.auto]: 'true' }), 'auto');
    assert.equal(ruleFor({ [names.secretAuto]: 'true' }), undefined, 'the other type stays off');
  });

  it('generic auto reloads for any referenced object, and needs the reference', () => {
    assert.equal(ruleFor({ [names.auto]: 'true' }), 'auto');
    assert.equal(ruleFor({ [names.auto]: 'True' }), 'auto');
    assert.equal(ruleFor({ [names.auto]: 'true' }, { referenced: false }), undefined);
    assert.equal(ruleFor({ [names.auto]: 'false' }), undefined);
  });

  it('--auto-reload-all reloads for referenced objects only', () => {
    assert.equal(ruleFor({}, { autoReloadAll: true }), 'auto-reload-all');
    assert.equal(ruleFor({}, { autoReloadAll: true, referenced: false }), undefined);
  });

  it('auto: "false" (generic or typed) opts out of --auto-reload-all', () => {
    assert.equal(ruleFor({ [names.auto]: 'false' }, { autoReloadAll: true }), undefined);
    assert.equal(ruleFor({ [names.configmapAuto]: 'false' }, { autoReloadAll: true }), undefined);
    // a typed opt-out for Secrets leaves ConfigMaps under the flag
    assert.equal(
      ruleFor({ [names.secretAuto]: 'false' }, { autoReloadAll: true }),
      'auto-reload-all',
    );
    // auto: "true" wins over the flag as the rule that decided
    assert.equal(ruleFor({ [names.auto]: 'true' }, { autoReloadAll: true }), 'auto');
  });

  it('only workloads of the same namespace are concerned', () => {
    const p = plan({
      sources: [{ ...source('ConfigMap', 'cfg', 'new'), namespace: 'other' }],
      changes: [{ ...updated('ConfigMap', 'cfg', 'new'), namespace: 'other' }],
      workloads: [
        workload({
          annotations: { [names.auto]: 'true', [names.configmapReload]: 'cfg' },
          references: [ref('ConfigMap', 'cfg')],
        }),
      ],
    });
    assert.deepEqual(p.reloads, []);
  });

  it('only the workloads that the change concerns are reloaded', () => {
    const p = plan({
      sources: [source('ConfigMap', 'cfg', 'new'), source('ConfigMap', 'unrelated', 'u')],
      changes: [updated('ConfigMap', 'cfg', 'new')],
      workloads: [
        workload({
          name: 'uses',
          annotations: { [names.auto]: 'true' },
          references: [ref('ConfigMap', 'cfg')],
        }),
        workload({
          name: 'other',
          annotations: { [names.auto]: 'true' },
          references: [ref('ConfigMap', 'unrelated')],
        }),
        workload({ name: 'plain', references: [ref('ConfigMap', 'cfg')] }),
      ],
    });
    const reload = single(p);
    assert.equal(reload.workload.name, 'uses');
    assert.deepEqual(reload.triggers, [
      { kind: 'ConfigMap', name: 'cfg', rule: 'auto', reason: 'updated', hash: 'new' },
    ]);
  });
});

describe('planPass: exactly once (SPEC §4)', () => {
  const auto = { [names.auto]: 'true' };

  it('a workload whose record holds the current hash is not triggered', () => {
    const p = plan({
      sources: [source('ConfigMap', 'cfg', 'new')],
      changes: [updated('ConfigMap', 'cfg', 'new')],
      workloads: [
        workload({
          annotations: auto,
          references: [ref('ConfigMap', 'cfg')],
          record: { 'ConfigMap/cfg': 'new' },
        }),
      ],
    });
    assert.deepEqual(p.reloads, []);
  });

  it('a workload whose record holds an older hash is triggered by the change', () => {
    const reload = single(
      plan({
        sources: [source('ConfigMap', 'cfg', 'new')],
        changes: [updated('ConfigMap', 'cfg', 'new')],
        workloads: [
          workload({
            annotations: auto,
            references: [ref('ConfigMap', 'cfg')],
            record: { 'ConfigMap/cfg': 'old' },
          }),
        ],
      }),
    );
    assert.deepEqual(reload.triggers, [
      { kind: 'ConfigMap', name: 'cfg', rule: 'auto', reason: 'updated', hash: 'new' },
    ]);
    assert.deepEqual(reload.record, { 'ConfigMap/cfg': 'new' });
  });

  it('only the sources whose hash the record lacks trigger', () => {
    const reload = single(
      plan({
        sources: [source('ConfigMap', 'a', 'a2'), source('Secret', 'b', 'b2')],
        changes: [updated('ConfigMap', 'a', 'a2'), updated('Secret', 'b', 'b2')],
        workloads: [
          workload({
            annotations: auto,
            references: [ref('ConfigMap', 'a'), ref('Secret', 'b')],
            record: { 'ConfigMap/a': 'a2', 'Secret/b': 'b1' },
          }),
        ],
      }),
    );
    assert.deepEqual(
      reload.triggers.map((t) => `${t.kind}/${t.name}`),
      ['Secret/b'],
    );
    assert.deepEqual(reload.record, { 'ConfigMap/a': 'a2', 'Secret/b': 'b2' });
  });

  it('a baseline (no changes) triggers nothing for a workload without a record', () => {
    const p = plan({
      sources: [source('ConfigMap', 'cfg', 'h')],
      workloads: [workload({ annotations: auto, references: [ref('ConfigMap', 'cfg')] })],
    });
    assert.deepEqual(p.reloads, []);
    assert.deepEqual(p.warnings, []);
  });

  it('a baseline triggers nothing for a workload whose record holds the current hash', () => {
    const p = plan({
      sources: [source('ConfigMap', 'cfg', 'h')],
      workloads: [
        workload({
          annotations: auto,
          references: [ref('ConfigMap', 'cfg')],
          record: { 'ConfigMap/cfg': 'h' },
        }),
      ],
    });
    assert.deepEqual(p.reloads, []);
  });

  it('a baseline triggers a workload whose record holds an older hash, as outdated', () => {
    const reload = single(
      plan({
        sources: [source('ConfigMap', 'cfg', 'current'), source('Secret', 'other', 'o')],
        workloads: [
          workload({
            annotations: auto,
            references: [ref('ConfigMap', 'cfg'), ref('Secret', 'other')],
            record: { 'ConfigMap/cfg': 'older', 'Secret/other': 'o' },
          }),
        ],
      }),
    );
    assert.deepEqual(reload.triggers, [
      { kind: 'ConfigMap', name: 'cfg', rule: 'auto', reason: 'outdated', hash: 'current' },
    ]);
    assert.deepEqual(reload.record, { 'ConfigMap/cfg': 'current', 'Secret/other': 'o' });
    assert.equal(reload.pause, false);
    assert.equal(reload.resume, false);
  });

  it('a baseline triggers a workload whose Reloader record names older content, and only then', () => {
    const sha = { v1: '1'.repeat(40), v2: '2'.repeat(40) };
    const withRecord = (hash: string, annotations = auto): Workload =>
      workload({
        annotations,
        references: [ref('ConfigMap', 'cfg')],
        reloader: { lastReloadedFrom: { key: 'ConfigMap/cfg', hash }, env: {} },
      });
    const reloaderHashes = new Map([['ns/ConfigMap/cfg', sha.v2]]);
    const sources = [source('ConfigMap', 'cfg', 'keyed')];
    const reload = single(plan({ sources, workloads: [withRecord(sha.v1)], reloaderHashes }));
    assert.deepEqual(reload.triggers, [
      { kind: 'ConfigMap', name: 'cfg', rule: 'auto', reason: 'reloader-outdated', hash: 'keyed' },
    ]);
    assert.deepEqual(reload.record, { 'ConfigMap/cfg': 'keyed' }, 'the keyed hash is recorded');
    assert.deepEqual(
      plan({ sources, workloads: [withRecord(sha.v2)], reloaderHashes }).reloads,
      [],
      'a current record',
    );
    assert.deepEqual(
      plan({ sources, workloads: [withRecord(sha.v1)] }).reloads,
      [],
      'not a baseline: no Reloader hashes',
    );
    assert.deepEqual(
      plan({ sources, workloads: [withRecord(sha.v1, {})], reloaderHashes }).reloads,
      [],
      'no rule applies',
    );
  });

  it('an outdated record does not trigger when no rule applies any more', () => {
    const p = plan({
      sources: [source('ConfigMap', 'cfg', 'current')],
      workloads: [
        workload({
          annotations: { [names.auto]: 'false' },
          references: [ref('ConfigMap', 'cfg')],
          record: { 'ConfigMap/cfg': 'older' },
        }),
      ],
    });
    assert.deepEqual(p.reloads, []);
  });

  it('keeps record entries of sources that are no longer relevant', () => {
    const reload = single(
      plan({
        sources: [source('ConfigMap', 'cfg', 'new')],
        changes: [updated('ConfigMap', 'cfg', 'new')],
        workloads: [
          workload({
            annotations: auto,
            references: [ref('ConfigMap', 'cfg')],
            record: { 'ConfigMap/cfg': 'old', 'Secret/elsewhere': 'x' },
          }),
        ],
      }),
    );
    assert.deepEqual(reload.record, { 'ConfigMap/cfg': 'new', 'Secret/elsewhere': 'x' });
  });

  it('several changed sources give one reload with one trigger each', () => {
    const p = plan({
      sources: [
        source('ConfigMap', 'a', 'a2'),
        source('ConfigMap', 'b', 'b2'),
        source('Secret', 'c', 'c2'),
      ],
      changes: [
        updated('ConfigMap', 'a', 'a2'),
        updated('ConfigMap', 'b', 'b2'),
        updated('Secret', 'c', 'c2'),
      ],
      workloads: [
        workload({
          annotations: { ...auto, [names.configmapReload]: 'b' },
          references: [ref('ConfigMap', 'a'), ref('Secret', 'c')],
        }),
      ],
    });
    const reload = single(p);
    const triggers = reload.triggers
      .map((t) => `${t.kind}/${t.name}:${t.rule}:${t.reason}:${t.hash}`)
      .sort();
    assert.deepEqual(triggers, [
      'ConfigMap/a:auto:updated:a2',
      'ConfigMap/b:reload-list:updated:b2',
      'Secret/c:auto:updated:c2',
    ]);
    assert.deepEqual(reload.record, { 'ConfigMap/a': 'a2', 'ConfigMap/b': 'b2', 'Secret/c': 'c2' });
  });

  it('a source both referenced and named in the reload list triggers once', () => {
    const reload = single(
      plan({
        sources: [source('ConfigMap', 'cfg', 'new')],
        changes: [updated('ConfigMap', 'cfg', 'new')],
        workloads: [
          workload({
            annotations: { ...auto, [names.configmapReload]: 'cfg' },
            references: [ref('ConfigMap', 'cfg')],
          }),
        ],
      }),
    );
    assert.equal(reload.triggers.length, 1);
    assert.equal(reload.triggers[0]?.rule, 'reload-list');
  });
});

describe('planPass: created and deleted sources', () => {
  const auto = { [names.auto]: 'true' };
  const created = {
    sources: [source('ConfigMap', 'cfg', 'h')],
    changes: [change('ConfigMap', 'cfg', 'created', 'h')],
    workloads: [workload({ annotations: auto, references: [ref('ConfigMap', 'cfg')] })],
  };
  const deleted = {
    sources: [],
    changes: [change('ConfigMap', 'cfg', 'deleted', DELETED)],
    workloads: [
      workload({
        annotations: auto,
        references: [ref('ConfigMap', 'cfg')],
        record: { 'ConfigMap/cfg': 'h' },
      }),
    ],
  };

  it('a created source triggers nothing without --reload-on-create', () => {
    assert.deepEqual(plan({ ...created, options: options() }).reloads, []);
  });

  it('a created source triggers with --reload-on-create', () => {
    const reload = single(plan({ ...created, options: options({ reloadOnCreate: true }) }));
    assert.deepEqual(reload.triggers, [
      { kind: 'ConfigMap', name: 'cfg', rule: 'auto', reason: 'created', hash: 'h' },
    ]);
    assert.deepEqual(reload.record, { 'ConfigMap/cfg': 'h' });
  });

  it('a created source named by a reload list triggers with --reload-on-create', () => {
    const reload = single(
      plan({
        sources: [source('Secret', 'new-secret', 'h')],
        changes: [change('Secret', 'new-secret', 'created', 'h')],
        workloads: [workload({ annotations: { [names.secretReload]: 'new-.*' } })],
        options: options({ reloadOnCreate: true }),
      }),
    );
    assert.deepEqual(
      reload.triggers.map((t) => [t.name, t.rule, t.reason]),
      [['new-secret', 'reload-list', 'created']],
    );
  });

  it('a deleted source triggers nothing without --reload-on-delete', () => {
    assert.deepEqual(plan({ ...deleted, options: options() }).reloads, []);
    assert.deepEqual(plan({ ...deleted, options: options({ reloadOnCreate: true }) }).reloads, []);
  });

  it('a deleted source triggers with --reload-on-delete, with the deleted hash', () => {
    const reload = single(plan({ ...deleted, options: options({ reloadOnDelete: true }) }));
    assert.deepEqual(reload.triggers, [
      { kind: 'ConfigMap', name: 'cfg', rule: 'auto', reason: 'deleted', hash: DELETED },
    ]);
    assert.deepEqual(reload.record, { 'ConfigMap/cfg': DELETED });
  });

  it('a deleted source the record already marks deleted triggers nothing', () => {
    const p = plan({
      ...deleted,
      workloads: [
        workload({
          annotations: auto,
          references: [ref('ConfigMap', 'cfg')],
          record: { 'ConfigMap/cfg': DELETED },
        }),
      ],
      options: options({ reloadOnDelete: true }),
    });
    assert.deepEqual(p.reloads, []);
  });

  it('a referenced source that never existed triggers nothing, even with --reload-on-delete', () => {
    const p = plan({
      workloads: [workload({ annotations: auto, references: [ref('ConfigMap', 'missing')] })],
      options: options({ reloadOnDelete: true, reloadOnCreate: true }),
    });
    assert.deepEqual(p.reloads, []);
  });
});

describe('planPass: malformed annotations', () => {
  it('warns once per malformed annotation, naming the workload and the annotation', () => {
    const p = plan({
      sources: [source('ConfigMap', 'a', 'a2'), source('ConfigMap', 'b', 'b2')],
      changes: [updated('ConfigMap', 'a', 'a2'), updated('ConfigMap', 'b', 'b2')],
      workloads: [
        workload({
          name: 'web',
          annotations: {
            [names.auto]: 'yes',
            [names.configmapReload]: 'ok, bad[',
            [names.pausePeriod]: 'soon',
          },
          references: [ref('ConfigMap', 'a'), ref('ConfigMap', 'b')],
        }),
      ],
    });
    assert.equal(p.warnings.length, 3, p.warnings.join('\n'));
    for (const annotation of [names.auto, names.configmapReload, names.pausePeriod]) {
      const lines = p.warnings.filter((w) => w.includes(annotation));
      assert.equal(lines.length, 1, `one warning for ${annotation}: ${p.warnings.join('\n')}`);
      assert.ok(lines[0]?.includes('ns/Deployment/web'), lines[0]);
    }
  });

  it('names each workload in its own warning', () => {
    const p = plan({
      workloads: [
        workload({ name: 'one', annotations: { [names.secretAuto]: 'nope' } }),
        workload({ kind: 'StatefulSet', name: 'two', annotations: { [names.search]: 'maybe' } }),
        workload({ name: 'fine', annotations: { [names.auto]: 'TRUE' } }),
      ],
    });
    assert.equal(p.warnings.length, 2, p.warnings.join('\n'));
    assert.ok(
      p.warnings.some((w) => w.includes('ns/Deployment/one') && w.includes(names.secretAuto)),
    );
    assert.ok(p.warnings.some((w) => w.includes('ns/StatefulSet/two') && w.includes(names.search)));
    assert.ok(!p.warnings.some((w) => w.includes('ns/Deployment/fine')));
  });

  it('a malformed annotation is ignored; the others still apply', () => {
    const p = plan({
      sources: [source('Secret', 's', 's2'), source('ConfigMap', 'c', 'c2')],
      changes: [updated('Secret', 's', 's2'), updated('ConfigMap', 'c', 'c2')],
      workloads: [
        workload({
          annotations: {
            [names.auto]: 'yes',
            [names.secretAuto]: 'true',
            [names.configmapReload]: '(',
          },
          references: [ref('Secret', 's'), ref('ConfigMap', 'c')],
        }),
      ],
    });
    const reload = single(p);
    assert.deepEqual(
      reload.triggers.map((t) => [t.kind, t.name, t.rule]),
      [['Secret', 's', 'typed-auto']],
    );
    assert.equal(p.warnings.length, 2);
  });

  it('a malformed reload list is ignored while the other workloads go on', () => {
    const p = plan({
      sources: [source('ConfigMap', 'cfg', 'new')],
      changes: [updated('ConfigMap', 'cfg', 'new')],
      workloads: [
        workload({ name: 'broken', annotations: { [names.configmapReload]: 'cfg, *' } }),
        workload({ name: 'good', annotations: { [names.configmapReload]: 'cfg' } }),
      ],
    });
    const reload = single(p);
    assert.equal(reload.workload.name, 'good');
    assert.equal(p.warnings.length, 1);
    assert.ok(p.warnings[0]?.includes('ns/Deployment/broken'));
    assert.ok(p.warnings[0]?.includes(names.configmapReload));
  });

  it('a reload-list entry that Go (RE2) refuses is a malformed annotation: ignored, warned', () => {
    const p = plan({
      sources: [source('ConfigMap', 'aa', 'new')],
      changes: [updated('ConfigMap', 'aa', 'new')],
      workloads: [
        workload({ name: 'backref', annotations: { [names.configmapReload]: '(a)\\1' } }),
        workload({ name: 'lookahead', annotations: { [names.configmapReload]: 'aa, (?=a)a+' } }),
        workload({ name: 'good', annotations: { [names.configmapReload]: 'a+' } }),
      ],
    });
    assert.equal(single(p).workload.name, 'good');
    assert.equal(p.warnings.length, 2, p.warnings.join('\n'));
    for (const name of ['backref', 'lookahead']) {
      assert.ok(
        p.warnings.some(
          (w) => w.includes(`ns/Deployment/${name}`) && w.includes(names.configmapReload),
        ),
        p.warnings.join('\n'),
      );
    }
  });

  it('a pattern that backtracks catastrophically does not hold the pass up (RE2)', () => {
    const adversarial = `${'a'.repeat(5000)}-x`;
    const p = plan({
      sources: [source('ConfigMap', adversarial, 'h1'), source('ConfigMap', 'app', 'h2')],
      changes: [updated('ConfigMap', adversarial, 'h1'), updated('ConfigMap', 'app', 'h2')],
      workloads: [
        workload({ name: 'redos', annotations: { [names.configmapReload]: '(a+)+, (x+x+)+y' } }),
        workload({
          name: 'web',
          annotations: { [names.auto]: 'true' },
          references: [ref('ConfigMap', 'app')],
        }),
      ],
    });
    assert.equal(single(p).workload.name, 'web');
    assert.deepEqual(p.warnings, []);
  });

  it('a malformed pause period is ignored: no pause', () => {
    const p = plan({
      sources: [source('ConfigMap', 'cfg', 'new')],
      changes: [updated('ConfigMap', 'cfg', 'new')],
      workloads: [
        workload({
          annotations: { [names.auto]: 'true', [names.pausePeriod]: '0s' },
          references: [ref('ConfigMap', 'cfg')],
          reloadedAt: minutesAgo(1),
        }),
      ],
    });
    const reload = single(p);
    assert.equal(reload.pause, false);
    assert.equal(p.warnings.length, 1);
    assert.ok(p.warnings[0]?.includes(names.pausePeriod));
    assert.ok(p.warnings[0]?.includes('ns/Deployment/app'));
  });

  it('warns about a malformed ignore or match on a source, naming the source', () => {
    const p = plan({
      sources: [
        source('ConfigMap', 'x', 'h', { ignore: 'maybe' }),
        source('Secret', 'y', 'h', { match: 'yes' }),
        source('Secret', 'z', 'h', { ignore: 'false', match: 'true' }),
      ],
    });
    assert.equal(p.warnings.length, 2, p.warnings.join('\n'));
    assert.ok(p.warnings.some((w) => w.includes('ns/ConfigMap/x') && w.includes(names.ignore)));
    assert.ok(p.warnings.some((w) => w.includes('ns/Secret/y') && w.includes(names.match)));
  });

  it('well-formed annotations give no warning', () => {
    const p = plan({
      sources: [source('ConfigMap', 'cfg', 'new')],
      changes: [updated('ConfigMap', 'cfg', 'new')],
      workloads: [
        workload({
          annotations: {
            [names.auto]: 'false',
            [names.configmapAuto]: 'true',
            [names.secretAuto]: 'False',
            [names.configmapReload]: 'a.*, b',
            [names.secretReload]: '',
            [names.search]: 'true',
            [names.configmapExclude]: 'x, y',
            [names.pausePeriod]: '1h30m',
          },
          references: [ref('ConfigMap', 'cfg')],
        }),
      ],
    });
    assert.deepEqual(p.warnings, []);
    assert.equal(single(p).triggers[0]?.rule, 'typed-auto');
  });
});

describe('planPass: pause period (Deployments)', () => {
  function pausePlan(overrides: Partial<Workload>, withChange = true, period = '5m'): Plan {
    return plan({
      sources: [source('ConfigMap', 'cfg', 'new')],
      changes: withChange ? [updated('ConfigMap', 'cfg', 'new')] : [],
      workloads: [
        workload({
          annotations: { [names.auto]: 'true', [names.pausePeriod]: period },
          references: [ref('ConfigMap', 'cfg')],
          record: { 'ConfigMap/cfg': 'old' },
          ...overrides,
        }),
      ],
    });
  }

  it('a change inside the period after the last reload pauses the rollout', () => {
    const reload = single(pausePlan({ reloadedAt: minutesAgo(1) }));
    assert.equal(reload.pause, true);
    assert.equal(reload.resume, false);
    assert.equal(reload.triggers.length, 1);
  });

  it('a change after the period does not pause', () => {
    const reload = single(pausePlan({ reloadedAt: minutesAgo(10) }));
    assert.equal(reload.pause, false);
    assert.equal(reload.resume, false);
  });

  it('the period ends exactly at reloadedAt + period', () => {
    assert.equal(single(pausePlan({ reloadedAt: minutesAgo(5) })).pause, false);
    assert.equal(
      single(pausePlan({ reloadedAt: new Date(now.getTime() - 299_999).toISOString() })).pause,
      true,
    );
  });

  it('a first reload (no record time) does not pause', () => {
    const reload = single(pausePlan({}));
    assert.equal(reload.pause, false);
  });

  it('a compound period is honoured', () => {
    assert.equal(single(pausePlan({ reloadedAt: minutesAgo(80) }, true, '1h30m')).pause, true);
    assert.equal(single(pausePlan({ reloadedAt: minutesAgo(100) }, true, '1h30m')).pause, false);
  });

  it('only a Deployment pauses', () => {
    const reload = single(pausePlan({ kind: 'StatefulSet', reloadedAt: minutesAgo(1) }));
    assert.equal(reload.pause, false);
    assert.equal(reload.resume, false);
  });

  it('a paused Deployment past its period is resumed, even without a change', () => {
    const reload = single(
      pausePlan({ pausedAt: minutesAgo(6), record: { 'ConfigMap/cfg': 'new' } }, false),
    );
    assert.equal(reload.resume, true);
    assert.equal(reload.pause, false);
    assert.deepEqual(reload.triggers, []);
  });

  it('an unreadable paused-at resumes the rollout rather than holding it for good', () => {
    const reload = single(
      pausePlan({ pausedAt: 'garbage', record: { 'ConfigMap/cfg': 'new' } }, false),
    );
    assert.equal(reload.resume, true);
  });

  it('a paused Deployment inside its period is left alone when nothing changed', () => {
    const p = pausePlan({ pausedAt: minutesAgo(1), record: { 'ConfigMap/cfg': 'new' } }, false);
    assert.deepEqual(p.reloads, []);
  });

  it('a change to a paused Deployment inside its period stays paused', () => {
    const reload = single(pausePlan({ pausedAt: minutesAgo(1), reloadedAt: minutesAgo(20) }));
    assert.equal(reload.pause, true);
    assert.equal(reload.resume, false);
    assert.equal(reload.triggers.length, 1);
  });

  it('a change to a paused Deployment past its period resumes it', () => {
    const reload = single(pausePlan({ pausedAt: minutesAgo(6), reloadedAt: minutesAgo(7) }));
    assert.equal(reload.resume, true);
    assert.equal(reload.pause, false);
    assert.equal(reload.triggers.length, 1);
  });

  it('a paused Deployment whose pause-period annotation is gone is resumed at once', () => {
    const reload = single(
      plan({
        sources: [source('ConfigMap', 'cfg', 'h')],
        workloads: [
          workload({
            annotations: { [names.auto]: 'true' },
            references: [ref('ConfigMap', 'cfg')],
            record: { 'ConfigMap/cfg': 'h' },
            pausedAt: minutesAgo(0),
          }),
        ],
      }),
    );
    assert.equal(reload.resume, true);
    assert.equal(reload.pause, false);
    assert.deepEqual(reload.triggers, []);
  });
});

describe('planPass: batches (SPEC §10)', () => {
  const auto = { [names.auto]: 'true' };
  const uses = { annotations: auto, references: [ref('ConfigMap', 'cfg'), ref('Secret', 's')] };
  const current = [source('ConfigMap', 'cfg', 'c2'), source('Secret', 's', 's1')];

  it('a workload annotated roll-at-once is marked so; a malformed value is warned and ignored', () => {
    const p = plan({
      sources: current,
      changes: [updated('ConfigMap', 'cfg', 'c2')],
      workloads: [
        workload({ ...uses, name: 'a', annotations: { ...auto, [names.rollAtOnce]: 'true' } }),
        workload({ ...uses, name: 'b', annotations: { ...auto, [names.rollAtOnce]: 'soon' } }),
        workload({ ...uses, name: 'c' }),
      ],
    });
    assert.deepEqual(
      p.reloads.map((r) => [r.workload.name, r.rollAtOnce === true]),
      [
        ['a', true],
        ['b', false],
        ['c', false],
      ],
    );
    assert.equal(p.warnings.length, 1);
    assert.match(
      p.warnings[0] ?? '',
      /ns\/Deployment\/b: annotation polling-reloader.io\/roll-at-once ignored/,
    );
  });

  it('without a state, the held-back label owes a workload the record it names', () => {
    // Held back for cfg@c2 while the state was lost: the label is the digest of the record its
    // reload will write.
    const label = recordDigest({ 'ConfigMap/cfg': 'c2', 'Secret/s': 's1' });
    const reload = single(
      plan({ sources: current, workloads: [workload({ ...uses, heldBack: label })] }),
    );
    assert.deepEqual(
      reload.triggers.map((t) => [t.kind, t.name, t.reason]),
      [
        ['ConfigMap', 'cfg', 'held-back'],
        ['Secret', 's', 'held-back'],
      ],
    );
    assert.deepEqual(reload.record, { 'ConfigMap/cfg': 'c2', 'Secret/s': 's1' });
  });

  it('a held-back label for another record owes nothing (the change was reverted, or moved on)', () => {
    const label = recordDigest({ 'ConfigMap/cfg': 'c3', 'Secret/s': 's1' });
    assert.deepEqual(
      plan({ sources: current, workloads: [workload({ ...uses, heldBack: label })] }).reloads,
      [],
    );
  });

  it('a workload already triggered by a change gets no held-back triggers beside it', () => {
    const label = recordDigest({ 'ConfigMap/cfg': 'c2', 'Secret/s': 's1' });
    const reload = single(
      plan({
        sources: current,
        changes: [updated('ConfigMap', 'cfg', 'c2')],
        workloads: [workload({ ...uses, heldBack: label })],
      }),
    );
    assert.deepEqual(
      reload.triggers.map((t) => [t.name, t.reason]),
      [['cfg', 'updated']],
    );
  });
});

describe('planPass: SecretProviderClasses (--enable-csi-integration)', () => {
  const csi = options({ csiIntegration: true });
  /** SecretProviderClass `spc` moved to `new` (a change of `type`), and one workload. */
  function spcRule(
    annotations: Record<string, string>,
    opts: {
      referenced?: boolean;
      type?: ChangeType;
      options?: PlanOptions;
      record?: Record<string, string>;
    } = {},
  ): string | undefined {
    const type = opts.type ?? 'updated';
    const hash = type === 'deleted' ? DELETED : 'new';
    const p = plan({
      sources: type === 'deleted' ? [] : [source('SecretProviderClass', 'spc', 'new')],
      changes: [change('SecretProviderClass', 'spc', type, hash)],
      workloads: [
        workload({
          annotations,
          references: opts.referenced === false ? [] : [ref('SecretProviderClass', 'spc')],
          record: opts.record ?? {},
        }),
      ],
      options: opts.options ?? csi,
    });
    return p.reloads[0]?.triggers[0]?.rule;
  }

  it('its reload list names it, even when the pod spec does not mount it', () => {
    const reload = { [names.secretProviderClassReload]: 'sp.*' };
    assert.equal(spcRule(reload), 'reload-list');
    assert.equal(spcRule(reload, { referenced: false }), 'reload-list');
    assert.equal(spcRule({ [names.secretReload]: 'spc' }), undefined, 'not the Secret list');
  });

  it('its typed auto, or the generic one, for a class the pod spec mounts', () => {
    assert.equal(spcRule({ [names.secretProviderClassAuto]: 'true' }), 'typed-auto');
    assert.equal(spcRule({ [names.auto]: 'true' }), 'auto');
    assert.equal(spcRule({ [names.auto]: 'true' }, { referenced: false }), undefined);
    assert.equal(spcRule({ [names.secretAuto]: 'true' }), undefined, "a Secret's auto is not it");
    assert.equal(spcRule({}, { options: { ...csi, autoReloadAll: true } }), 'auto-reload-all');
    const optOut = { [names.secretProviderClassAuto]: 'false' };
    assert.equal(spcRule(optOut, { options: { ...csi, autoReloadAll: true } }), undefined);
  });

  it('its exclude annotation wins over the reload list and auto', () => {
    const all = {
      [names.secretProviderClassExclude]: 'other, spc',
      [names.secretProviderClassReload]: 'spc',
      [names.auto]: 'true',
    };
    assert.equal(spcRule(all), undefined);
    assert.equal(spcRule({ [names.secretExclude]: 'spc', [names.auto]: 'true' }), 'auto');
  });

  it('a creation or a deletion never triggers (Reloader acts on updates of pod statuses only)', () => {
    const auto = { [names.auto]: 'true' };
    const all = { ...csi, reloadOnCreate: true, reloadOnDelete: true };
    assert.equal(spcRule(auto, { type: 'created', options: all }), undefined);
    assert.equal(
      spcRule(auto, { type: 'created', record: { 'SecretProviderClass/spc': 'old' } }),
      undefined,
    );
    assert.equal(spcRule(auto, { type: 'deleted', options: all }), undefined);
    assert.equal(
      spcRule(auto, {
        type: 'deleted',
        options: all,
        record: { 'SecretProviderClass/spc': 'old' },
      }),
      undefined,
    );
  });

  it('the record makes it exactly once; a record of older content is outdated', () => {
    const auto = { [names.auto]: 'true' };
    assert.equal(spcRule(auto, { record: { 'SecretProviderClass/spc': 'new' } }), undefined);
    const p = plan({
      sources: [source('SecretProviderClass', 'spc', 'new')],
      workloads: [
        workload({
          annotations: auto,
          references: [ref('SecretProviderClass', 'spc')],
          record: { 'SecretProviderClass/spc': 'old' },
        }),
      ],
      options: csi,
    });
    assert.equal(single(p).triggers[0]?.reason, 'outdated');
    assert.deepEqual(single(p).record, { 'SecretProviderClass/spc': 'new' });
  });

  it('without the flag, nothing of a SecretProviderClass counts, not even its record', () => {
    const off = options({ reloadOnDelete: true });
    const all = { [names.auto]: 'true', [names.secretProviderClassReload]: 'spc' };
    assert.equal(spcRule(all, { options: off }), undefined);
    const p = plan({
      sources: [source('ConfigMap', 'cfg', 'new')],
      changes: [updated('ConfigMap', 'cfg', 'new')],
      workloads: [
        workload({
          annotations: all,
          references: [ref('ConfigMap', 'cfg'), ref('SecretProviderClass', 'spc')],
          record: { 'SecretProviderClass/spc': 'old' },
        }),
      ],
      options: off,
    });
    assert.deepEqual(
      single(p).triggers.map((t) => `${t.kind}/${t.name}`),
      ['ConfigMap/cfg'],
    );
    assert.deepEqual(single(p).record, {
      'SecretProviderClass/spc': 'old',
      'ConfigMap/cfg': 'new',
    });
  });
});

describe('planPass: SecretProviderClass annotations without --enable-csi-integration', () => {
  it('are not read: a malformed one is no warning', () => {
    const bad = { [names.secretProviderClassReload]: '(' };
    const p = (csiIntegration: boolean) =>
      plan({ workloads: [workload({ annotations: bad })], options: options({ csiIntegration }) });
    assert.deepEqual(p(false).warnings, []);
    assert.match(
      p(true).warnings.join('\n'),
      /secretproviderclass\.reloader\.stakater\.com\/reload/,
    );
  });
});
