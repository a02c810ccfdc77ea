import assert from 'node:assert/strict';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stateFingerprint } from './fingerprint.js';
import { fileStateStore, type ObservedSource, type StateData } from './state.js';

function state(sources: number): StateData {
  const entries = Array.from({ length: sources }, (_, i): [string, ObservedSource] => [
    `ns/ConfigMap/cm-${i}`,
    { uid: `uid-${i}`, resourceVersion: String(i), hash: 'h'.repeat(40) },
  ]);
  return { version: 1, keyId: 'k', savedAt: 'then', sources: Object.fromEntries(entries) };
}

describe('fileStateStore', () => {
  it('uses what it saved or read again until the file moves', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'state-test-'));
    t.after(() => rm(dir, { recursive: true }));
    const path = join(dir, 'state.json');
    const store = await fileStateStore(path);
    const saved = state(3);
    await store.save(saved);
    assert.equal((await store.load()).data, saved, 'not read back after the save');
    const other = state(2);
    await writeFile(`${path}.new`, JSON.stringify(other));
    await rename(`${path}.new`, path);
    const read = (await store.load()).data;
    assert.deepEqual(read, other, 'a replaced file is read');
    assert.equal((await store.load()).data, read, 'not parsed again while the file stays');
    await writeFile(path, JSON.stringify(state(1)));
    assert.equal(
      Object.keys((await store.load()).data?.sources ?? {}).length,
      1,
      'edited in place',
    );
    assert.deepEqual(JSON.parse(await readFile(path, 'utf8')), state(1));
  });

  it('peeks at the head of a state with nothing pending, without its entries', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'state-test-'));
    t.after(() => rm(dir, { recursive: true }));
    const path = join(dir, 'state.json');
    const store = await fileStateStore(path);
    assert.equal(await store.peek?.(), undefined, 'no state yet');
    await store.save(state(3));
    const peek = await store.peek?.();
    assert.equal(peek?.keyId, 'k');
    assert.equal(peek.fingerprint, stateFingerprint(state(3)));
    assert.equal('fingerprint' in ((await (await fileStateStore(path)).load()).data ?? {}), false);

    await store.save({ ...state(3), heldBack: { 'ns/Deployment/web': 'then' } });
    assert.equal(await store.peek?.(), undefined, 'pending: only the whole state says what');
    await writeFile(path, JSON.stringify(state(3), null, 2));
    assert.equal(await store.peek?.(), undefined, 'a state written before fingerprints');
    await writeFile(path, '{"version":1,"keyId":');
    assert.equal(await store.peek?.(), undefined, 'unreadable: load says why');
  });
});
