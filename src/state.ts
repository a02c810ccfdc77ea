import { mkdir, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Low, type Adapter } from 'lowdb';
import { JSONFile } from 'lowdb/node';

/** What a pass remembers of one ConfigMap or Secret. */
export interface ObservedSource {
  uid: string;
  resourceVersion: string;
  /** Keyed hash of the content whose changes have all been applied. */
  hash: string;
}

/** The persisted observed state: no data, no plain hashes, only keyed ones. */
export interface StateData {
  version: 1;
  /** Fingerprint of the hash key the hashes were made with. */
  keyId: string;
  savedAt: string;
  sources: Record<string, ObservedSource>;
  /** Workloads held paused by a pause period, waiting for a later pass to resume them. */
  paused?: string[] | undefined;
}

/** The outcome of loading: the state, or none (with the reason when it was unreadable). */
export interface Loaded {
  data: StateData | undefined;
  problem?: string;
}

/** Where the observed state lives. */
export interface StateStore {
  readonly location: string;
  load(): Promise<Loaded>;
  save(data: StateData): Promise<void>;
}

/** A state that exists but cannot be used; anything else a read throws is a fault to report. */
export class UnreadableState extends Error {
  override name = 'UnreadableState';
}

/** A lowdb-backed store; a store for a new place only needs a lowdb adapter and a set-aside. */
export class LowStateStore implements StateStore {
  private readonly db: Low;

  constructor(
    readonly location: string,
    adapter: Adapter<unknown>,
    private readonly setAside: () => Promise<string>,
  ) {
    this.db = new Low(adapter, null);
  }

  async load(): Promise<Loaded> {
    let problem: string | undefined;
    try {
      await this.db.read();
      if (this.db.data === null) return { data: undefined };
      if (isStateData(this.db.data)) return { data: this.db.data };
      problem = 'it is not a polling-reloader state (version 1)';
    } catch (err) {
      if (!(err instanceof SyntaxError || err instanceof UnreadableState)) throw err;
      problem = `it cannot be parsed (${err.message})`;
    }
    const kept = await this.setAside();
    return {
      data: undefined,
      problem: `state ${this.location} is unreadable: ${problem}; kept as ${kept}`,
    };
  }

  async save(data: StateData): Promise<void> {
    this.db.data = data;
    await this.db.write();
  }
}

/** The state as a JSON file, written atomically (temporary file, then rename). */
export async function fileStateStore(path: string): Promise<StateStore> {
  await mkdir(dirname(path), { recursive: true });
  return new LowStateStore(path, new JSONFile(path), async () => {
    const aside = `${path}.unreadable-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await rename(path, aside);
    return aside;
  });
}

function isStateData(value: unknown): value is StateData {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<StateData>;
  return v.version === 1 && typeof v.keyId === 'string' && typeof v.sources === 'object';
}
