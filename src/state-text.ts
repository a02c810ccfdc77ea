import type { StateData } from './state.js';

/** The fields of a state that hold one entry per source: written a block of entries at a time. */
const entryFields = new Set(['sources', 'podStatuses']);

/**
 * A state as JSON text, in pieces of at most `entriesPerPiece` entries, so that a store writes it
 * without ever holding the whole text: at 20k sources that is some 3 MB of string, and as much
 * again of buffer to write it, on top of everything else a pass with changes holds. Joined, the
 * pieces read as `JSON.stringify(data)` does (the same keys in the same order), one entry a line.
 */
export function* stateText(data: StateData, entriesPerPiece = 500): Generator<string> {
  let sep = '{';
  for (const [key, value] of Object.entries(data)) {
    if (value === undefined) continue;
    const name = `${sep}${JSON.stringify(key)}:`;
    sep = ',';
    if (!entryFields.has(key)) {
      yield `${name}${JSON.stringify(value)}`;
      continue;
    }
    yield `${name}{`;
    yield* entries(value as Record<string, unknown>, entriesPerPiece);
    yield '}';
  }
  yield sep === '{' ? '{}' : '}';
}

function* entries(record: Record<string, unknown>, perPiece: number): Generator<string> {
  let piece: string[] = [];
  let first = true;
  for (const id in record) {
    if (!Object.hasOwn(record, id) || record[id] === undefined) continue;
    piece.push(`${first ? '' : ','}${JSON.stringify(id)}:${JSON.stringify(record[id])}\n`);
    first = false;
    if (piece.length < perPiece) continue;
    yield piece.join('');
    piece = [];
  }
  if (piece.length > 0) yield piece.join('');
}
