import type { BigIntStats } from 'node:fs';
import { mkdir, open, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Low, type Adapter } from 'lowdb';
import { UsageError } from './errors.js';
import { stateFingerprint, type StatePeek } from './fingerprint.js';
import { LastRead } from './last-read.js';
import { stateText } from './state-text.js';

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
  /**
   * `--enable-csi-integration`: each SecretProviderClassPodStatus seen
   * (`namespace/SecretProviderClassPodStatus/name`), so that an update of one is told from a new
   * pod (see csi.ts).
   */
  podStatuses?: Record<string, ObservedSource> | undefined;
  /** Workloads held paused by a pause period, waiting for a later pass to resume them. */
  paused?: string[] | undefined;
  /**
   * The workloads whose reloads the last pass held back for later batches
   * (`--max-reloads-per-pass`, `--wait-healthy`), and since when each waits: the next pass lists
   * workloads even if no source changes again, and rolls the oldest first.
   */
  heldBack?: Record<string, string> | undefined;
  /**
   * `--wait-healthy`: workloads rolled by earlier batches and not yet seen available at their new
   * revision (`namespace/Kind/name`). The next batch waits for them.
   */
  waitingFor?: string[] | undefined;
  /** The --resource-label-selector the entries were listed with. */
  labelSelector?: string | undefined;
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
  /**
   * The stored state's head alone (see fingerprint.ts), read without the entries: undefined when
   * there is none, or it has no fingerprint, or it cannot be read (then `load` says why).
   */
  peek?(): Promise<StatePeek | undefined>;
  /** Whether a ConfigMap or Secret is one of the store's own objects, never a source. */
  owns?(object: { kind: string; namespace: string; name: string }): boolean;
}

/** A lowdb adapter that can also read the head of what it stores. */
export type StateAdapter = Adapter<unknown> & { peek?(): Promise<StatePeek | undefined> };

/** A state that exists but cannot be used; anything else a read throws is a fault to report. */
export class UnreadableState extends Error {
  override name = 'UnreadableState';
}

/** A lowdb-backed store; a store for a new place only needs a lowdb adapter and a set-aside. */
export class LowStateStore implements StateStore {
  private readonly db: Low;

  /**
   * `setAside` moves an unreadable state out of the way; it is not called when `readOnly` (a dry
   * run changes nothing, not even an unreadable state).
   */
  constructor(
    readonly location: string,
    private readonly adapter: StateAdapter,
    private readonly setAside: () => Promise<string>,
    readonly options: { readOnly?: boolean; owns?: StateStore['owns'] } = {},
  ) {
    this.db = new Low(adapter, null);
    this.owns = options.owns;
  }

  readonly owns: StateStore['owns'];

  async load(): Promise<Loaded> {
    let problem: string | undefined;
    try {
      // Not kept by lowdb, which would keep what it had when a read finds nothing: the adapters
      // keep the last state read for as long as the stored copy does not move (see LastRead).
      this.db.data = null;
      await this.db.read();
      const data = this.db.data;
      this.db.data = null;
      if (data === null) return { data: undefined };
      if (isStateData(data)) return { data };
      problem = 'it is not a polling-reloader state (version 1)';
    } catch (err) {
      if (!(err instanceof SyntaxError || err instanceof UnreadableState)) throw err;
      problem = `it cannot be parsed (${err.message})`;
    }
    const kept = this.options.readOnly ? undefined : await this.setAside();
    return {
      data: undefined,
      problem: `state ${this.location} is unreadable: ${problem}; ${kept ? `kept as ${kept}` : 'a run that is not a dry run keeps it aside'}`,
    };
  }

  async peek(): Promise<StatePeek | undefined> {
    try {
      return await this.adapter.peek?.();
    } catch {
      return undefined;
    }
  }

  async save(data: StateData): Promise<void> {
    this.db.data = data;
    try {
      await this.db.write();
    } finally {
      this.db.data = null;
    }
  }
}

/**
 * The state as a JSON file, written atomically (temporary file, then rename). Unless `readOnly`,
 * its folder is created and proved writable now, so that a state that cannot be saved stops the
 * program before it changes anything.
 */
export async function fileStateStore(path: string, readOnly = false): Promise<StateStore> {
  if (!readOnly) await proveWritable(path);
  return new LowStateStore(
    path,
    new StateFile(path),
    async () => {
      const aside = `${path}.unreadable-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      await rename(path, aside);
      return aside;
    },
    { readOnly },
  );
}

/**
 * The state's JSON file. Read as one Buffer decoded at once: a state is ASCII, and Node makes the
 * text of a large ASCII Buffer a string outside the JavaScript heap (a decoding read builds it in
 * the heap; a state of 20k sources is some 4 MB of text). Written a piece at a time to a temporary
 * file, synced, then renamed over it: a crash leaves the old state or the new, never a part.
 */
class StateFile implements StateAdapter {
  private readonly last = new LastRead();

  constructor(private readonly path: string) {}

  async read(): Promise<unknown> {
    let handle: FileHandle;
    try {
      handle = await open(this.path, 'r');
    } catch (err) {
      this.last.forget();
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    try {
      const version = fileVersion(await handle.stat({ bigint: true }));
      const kept = this.last.get(version);
      if (kept !== undefined) return kept;
      const data = JSON.parse((await handle.readFile()).toString('utf8')) as unknown;
      // The fingerprint is the file's, for `peek`: not part of the state a pass compares.
      if (typeof data === 'object' && data !== null) Reflect.deleteProperty(data, 'fingerprint');
      this.last.remember(version, data);
      return data;
    } finally {
      await handle.close();
    }
  }

  async write(data: unknown): Promise<void> {
    this.last.forget();
    const temporary = join(dirname(this.path), `.${basename(this.path)}.tmp`);
    try {
      const handle = await open(temporary, 'w');
      try {
        for (const piece of stateText(withFingerprint(data as StateData)))
          await handle.write(piece);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      await rename(temporary, this.path);
    } catch (err) {
      await rm(temporary, { force: true });
      throw err;
    }
    // What was written is what the next read would parse: kept, instead of read back.
    this.last.remember(fileVersion(await stat(this.path, { bigint: true })), data);
  }

  /**
   * The first line of the file, which holds the head fields (stateText writes them first). Only
   * of a regular file: a read of anything else may not be repeated (a FIFO, a device).
   */
  async peek(): Promise<StatePeek | undefined> {
    if (!(await stat(this.path)).isFile()) return undefined;
    const handle = await open(this.path, 'r');
    try {
      const { buffer, bytesRead } = await handle.read(Buffer.alloc(peekBytes), 0, peekBytes, 0);
      const line = buffer.toString('utf8', 0, bytesRead).split('\n', 1)[0] ?? '';
      const end = line.indexOf(',"sources":{');
      return end < 0 ? undefined : peekOf(JSON.parse(`${line.slice(0, end)}}`) as unknown);
    } finally {
      await handle.close();
    }
  }
}

/** Enough for the head fields and the first entry of the file. */
const peekBytes = 16 * 1024;

/** The state with its fingerprint among the head fields, before the entries. */
function withFingerprint(data: StateData): StateData & { fingerprint?: string } {
  const fingerprint = stateFingerprint(data);
  if (fingerprint === undefined) return data;
  // Assigned onto the head fields, so that they come first in the file, the fingerprint with them.
  const { version, keyId, savedAt } = data;
  return Object.assign({ version, keyId, savedAt, fingerprint }, data);
}

/** A head, if it has what a peek needs. */
export function peekOf(head: unknown): StatePeek | undefined {
  const h = head as Partial<Record<keyof StatePeek, unknown>> | null;
  if (typeof h?.keyId !== 'string' || typeof h.savedAt !== 'string') return undefined;
  if (typeof h.fingerprint !== 'string') return undefined;
  return { keyId: h.keyId, savedAt: h.savedAt, fingerprint: h.fingerprint };
}

/** The version of a state file: a write replaces the file (a new inode). */
function fileVersion(s: BigIntStats): string {
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}`;
}

async function proveWritable(path: string): Promise<void> {
  const probe = `${path}.probe-${process.pid}`;
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(probe, '');
    await rm(probe);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new UsageError(`--state ${path}: the state cannot be written there (${code})`);
  }
}

function isStateData(value: unknown): value is StateData {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<StateData>;
  return v.version === 1 && typeof v.keyId === 'string' && typeof v.sources === 'object';
}
