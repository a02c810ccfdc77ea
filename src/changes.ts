import { DELETED, sourceId, type Change, type Source } from './model.js';
import { isSourceKind, type SourceKind } from './references.js';
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
  let found = 0;
  for (const source of current) {
    const before = observed[sourceId(source)];
    if (!before) changes.push({ ...identity(source), type: 'created', hash: source.hash });
    else {
      found++;
      if (before.hash !== source.hash) {
        changes.push({ ...identity(source), type: 'updated', hash: source.hash });
      }
    }
  }
  const ids = Object.keys(observed);
  // When every entry was found again (the ids of a listing are unique), none was deleted: the
  // usual case, which then needs no set of the listed ids.
  if (found < ids.length) changes.push(...deletedSince(ids, current, listed));
  return changes;
}

/** The entries of the state (their ids) that this pass lists and did not find. */
function deletedSince(ids: string[], current: Source[], listed: (id: string) => boolean): Change[] {
  const seen = new Set(current.map(sourceId));
  const deleted: Change[] = [];
  for (const id of ids) {
    if (seen.has(id) || !listed(id)) continue;
    const [namespace, kind, name] = id.split('/');
    if (!namespace || !name || !isSourceKind(kind)) continue;
    deleted.push({ kind, namespace, name, type: 'deleted', hash: DELETED });
  }
  return deleted;
}

function identity(s: Source): { kind: SourceKind; namespace: string; name: string } {
  return { kind: s.kind, namespace: s.namespace, name: s.name };
}
