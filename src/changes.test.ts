import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { detectChanges } from './changes.js';
import { DELETED, type Change, type Source } from './model.js';
import type { SourceKind } from './references.js';
import type { ObservedSource } from './state.js';

function source(kind: SourceKind, namespace: string, name: string, hash: string): Source {
  return { kind, namespace, name, uid: `uid-${name}`, resourceVersion: '7', hash };
}

function observed(hash: string): ObservedSource {
  return { uid: 'uid', resourceVersion: '1', hash };
}

function sorted(changes: Change[]): Change[] {
  return [...changes].sort((a, b) =>
    `${a.namespace}/${a.kind}/${a.name}`.localeCompare(`${b.namespace}/${b.kind}/${b.name}`),
  );
}

describe('detectChanges', () => {
  it('reports nothing when every hash is the same', () => {
    const changes = detectChanges(
      { 'ns/ConfigMap/a': observed('h1'), 'ns/Secret/b': observed('h2') },
      [source('ConfigMap', 'ns', 'a', 'h1'), source('Secret', 'ns', 'b', 'h2')],
    );
    assert.deepEqual(changes, []);
  });

  it('ignores a new resourceVersion or uid when the hash is the same', () => {
    const changes = detectChanges(
      { 'ns/ConfigMap/a': { uid: 'other', resourceVersion: '99', hash: 'h1' } },
      [source('ConfigMap', 'ns', 'a', 'h1')],
    );
    assert.deepEqual(changes, []);
  });

  it('reports an updated source with its new hash', () => {
    const changes = detectChanges({ 'ns/ConfigMap/a': observed('old') }, [
      source('ConfigMap', 'ns', 'a', 'new'),
    ]);
    assert.deepEqual(changes, [
      { kind: 'ConfigMap', namespace: 'ns', name: 'a', type: 'updated', hash: 'new' },
    ]);
  });

  it('reports a source absent before as created', () => {
    const changes = detectChanges({}, [source('Secret', 'ns', 's', 'h')]);
    assert.deepEqual(changes, [
      { kind: 'Secret', namespace: 'ns', name: 's', type: 'created', hash: 'h' },
    ]);
  });

  it('reports a source absent now as deleted, with the deleted hash', () => {
    const changes = detectChanges({ 'other/Secret/gone': observed('h') }, []);
    assert.deepEqual(changes, [
      { kind: 'Secret', namespace: 'other', name: 'gone', type: 'deleted', hash: DELETED },
    ]);
  });

  it('tells a ConfigMap and a Secret of the same name apart', () => {
    const changes = detectChanges({ 'ns/ConfigMap/x': observed('h') }, [
      source('Secret', 'ns', 'x', 'h'),
    ]);
    assert.deepEqual(sorted(changes), [
      { kind: 'ConfigMap', namespace: 'ns', name: 'x', type: 'deleted', hash: DELETED },
      { kind: 'Secret', namespace: 'ns', name: 'x', type: 'created', hash: 'h' },
    ]);
  });

  it('tells namespaces apart', () => {
    const changes = detectChanges({ 'a/ConfigMap/x': observed('h') }, [
      source('ConfigMap', 'b', 'x', 'h'),
    ]);
    assert.deepEqual(sorted(changes), [
      { kind: 'ConfigMap', namespace: 'a', name: 'x', type: 'deleted', hash: DELETED },
      { kind: 'ConfigMap', namespace: 'b', name: 'x', type: 'created', hash: 'h' },
    ]);
  });

  it('reports every kind of change at once, and only the sources that changed', () => {
    const changes = detectChanges(
      {
        'ns/ConfigMap/same': observed('s'),
        'ns/ConfigMap/changed': observed('c1'),
        'ns/Secret/removed': observed('r'),
      },
      [
        source('ConfigMap', 'ns', 'same', 's'),
        source('ConfigMap', 'ns', 'changed', 'c2'),
        source('Secret', 'ns', 'added', 'a'),
      ],
    );
    assert.deepEqual(sorted(changes), [
      { kind: 'ConfigMap', namespace: 'ns', name: 'changed', type: 'updated', hash: 'c2' },
      { kind: 'Secret', namespace: 'ns', name: 'added', type: 'created', hash: 'a' },
      { kind: 'Secret', namespace: 'ns', name: 'removed', type: 'deleted', hash: DELETED },
    ]);
  });

  it('skips observed entries whose id is not a ConfigMap or Secret id', () => {
    const changes = detectChanges(
      { 'ns/Deployment/x': observed('h'), garbage: observed('h'), 'ns/ConfigMap/': observed('h') },
      [],
    );
    assert.deepEqual(changes, []);
  });

  it('reports no change for an empty state and no sources', () => {
    assert.deepEqual(detectChanges({}, []), []);
  });
});
