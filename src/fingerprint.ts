import { sourceId, type Source } from './model.js';
import type { StateData } from './state.js';

/**
 * What a stored state's head says, so that a pass can tell that nothing moved without reading
 * the whole state: its hash key's fingerprint, when it was saved, and the fingerprint of its
 * entries (only a state with nothing pending has one, see `stateFingerprint`).
 */
export interface StatePeek {
  keyId: string;
  savedAt: string;
  fingerprint: string;
}

/**
 * The fingerprint of a state's entries (uid and resourceVersion of each source) and of the label
 * selector they were listed with; none when the state keeps anything else pending (a paused
 * rollout, a held-back reload, a rollout waited for, CSI pod statuses), which only the whole
 * state says. A change whose reload failed is pending in the entries themselves (its old one).
 */
export function stateFingerprint(data: StateData): string | undefined {
  const pending =
    (data.paused?.length ?? 0) > 0 ||
    Object.keys(data.heldBack ?? {}).length > 0 ||
    (data.waitingFor?.length ?? 0) > 0 ||
    Object.keys(data.podStatuses ?? {}).length > 0;
  if (pending) return undefined;
  const entries = Object.entries(data.sources);
  return fingerprint(
    entries.map(([id, e]) => `${id}\0${e.uid}\0${e.resourceVersion}`),
    data.labelSelector,
  );
}

/** The fingerprint a state whose entries say exactly what was listed carries. */
export function listingFingerprint(sources: readonly Source[], labelSelector?: string): string {
  return fingerprint(
    sources.map((s) => `${sourceId(s)}\0${s.uid}\0${s.resourceVersion}`),
    labelSelector,
  );
}

/**
 * Order does not count (the state's entries and a listing come in different orders): the sum of
 * two 32-bit FNV-1a hashes of each entry, with the number of entries. A change goes unseen only if
 * both sums and the count still agree, about one chance in 2^64, and the API server's
 * resourceVersions are not chosen by whoever changes an object.
 */
function fingerprint(entries: readonly string[], labelSelector: string | undefined): string {
  let a = 0;
  let b = 0;
  for (const entry of entries) {
    const [x, y] = fnv(entry);
    a = (a + x) % 2 ** 32;
    b = (b + y) % 2 ** 32;
  }
  const [s] = fnv(labelSelector ?? '');
  return `v1.${entries.length}.${hex(a)}${hex(b)}.${hex(s)}`;
}

function fnv(text: string): [number, number] {
  let x = 0x811c9dc5;
  let y = 0x050c5d1f;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    x = Math.imul(x ^ c, 0x01000193);
    y = Math.imul(y ^ c, 0x5bd1e995);
  }
  return [x >>> 0, y >>> 0];
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}
