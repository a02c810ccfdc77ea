import { DELETED, sourceId, type Change, type Source } from './model.js';
import type { SourceKind } from './references.js';
import type { ObservedSource } from './state.js';

/**
 * Compares the listed sources with the observed state: updated (hash differs), created (absent
 * before), deleted (absent now, and of what was listed: see `listsEntry`). Only the keyed content
 * hash counts, so a change to labels or annotations alone is no change.
 */
export function detectChanges(
  observed: Record<string, ObservedSource>,
  current: Source[],
  listed: (id: string) => boolean = () => true,
): Change[] {
  const changes: Change[] = [];
  const seen = new Set<string>();
  for (const source of current) {
    const id = sourceId(source);
    seen.add(id);
    const before = observed[id];
    if (!before) changes.push({ ...identity(source), type: 'created', hash: source.hash });
    else if (before.hash !== source.hash) {
      changes.push({ ...identity(source), type: 'updated', hash: source.hash });
    }
  }
  for (const id of Object.keys(observed)) {
    if (seen.has(id) || !listed(id)) continue;
    const [namespace, kind, name] = id.split('/');
    if (!namespace || !name || (kind !== 'ConfigMap' && kind !== 'Secret')) continue;
    changes.push({ kind, namespace, name, type: 'deleted', hash: DELETED });
  }
  return changes;
}

function identity(s: Source): { kind: SourceKind; namespace: string; name: string } {
  return { kind: s.kind, namespace: s.namespace, name: s.name };
}
