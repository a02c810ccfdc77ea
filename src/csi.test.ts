import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  nextPodStatuses,
  podStatusContent,
  podStatusId,
  reloaderClassHashes,
  reloaderPodStatusSha,
  secretProviderClassSources,
  type PodStatus,
} from './csi.js';
import { Hasher } from './hashing.js';
import type { ObservedSource } from './state.js';

const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex');

describe('podStatusContent (as Reloader hashes a SecretProviderClassPodStatus)', () => {
  it('is id=version of each object and the class name, sorted, joined by ;', () => {
    const status = {
      secretProviderClassName: 'vault-db',
      podName: 'web-1',
      objects: [
        { id: 'secret/password', version: '7' },
        { id: 'secret/db-user', version: '3' },
      ],
    };
    const text = 'SecretProviderClassName=vault-db;secret/db-user=3;secret/password=7';
    assert.equal(podStatusContent(status), text);
    assert.equal(reloaderPodStatusSha(status), sha1(text), "Reloader's SHA1 of it");
  });

  it('depends on ids, versions and the class only, not on the pod or the order', () => {
    const a = { secretProviderClassName: 'c', podName: 'p1', objects: [{ id: 'x', version: '1' }] };
    const b = { secretProviderClassName: 'c', podName: 'p2', objects: [{ id: 'x', version: '1' }] };
    assert.equal(podStatusContent(a), podStatusContent(b));
    const rotated = { ...a, objects: [{ id: 'x', version: '2' }] };
    assert.notEqual(podStatusContent(a), podStatusContent(rotated));
    assert.equal(podStatusContent({}), 'SecretProviderClassName=');
  });

  it('is hashed with the key, so that nothing of it can be confirmed without the key', () => {
    const hasher = new Hasher(Buffer.alloc(32, 1));
    const other = new Hasher(Buffer.alloc(32, 2));
    const content = podStatusContent({ secretProviderClassName: 'c', objects: [] });
    assert.match(hasher.hashPodStatus(content), /^[0-9a-f]{40}$/);
    assert.notEqual(hasher.hashPodStatus(content), other.hashPodStatus(content));
    assert.notEqual(hasher.hashPodStatus(content), sha1(content));
  });
});

function pod(name: string, hash: string, extra: Partial<PodStatus> = {}): PodStatus {
  return {
    namespace: 'ns',
    name,
    uid: `uid-${name}`,
    resourceVersion: '1',
    secretProviderClass: 'spc',
    hash,
    ...extra,
  };
}

function entries(pods: PodStatus[]): Record<string, ObservedSource> {
  return Object.fromEntries(
    pods.map((p) => [podStatusId(p), { uid: p.uid, resourceVersion: '0', hash: p.hash }]),
  );
}

const spcId = 'ns/SecretProviderClass/spc';
const classEntry = (hash: string) => ({ [spcId]: { uid: '', resourceVersion: '', hash } });

/** The hash of class `spc` in namespace `ns` that `secretProviderClassSources` gives. */
function classHash(
  listed: PodStatus[],
  before: { classHash?: string; pods?: PodStatus[] } = {},
): string | undefined {
  const sources = secretProviderClassSources(listed, {
    sources: before.classHash ? classEntry(before.classHash) : {},
    podStatuses: entries(before.pods ?? []),
  });
  return sources.find((s) => s.namespace === 'ns' && s.name === 'spc')?.hash;
}

describe('secretProviderClassSources', () => {
  it('one source per class and namespace, named after the class', () => {
    const sources = secretProviderClassSources(
      [
        pod('a', 'h1'),
        pod('b', 'h1'),
        pod('c', 'h2', { secretProviderClass: 'other' }),
        pod('d', 'h3', { namespace: 'ns2' }),
        pod('e', 'h4', { secretProviderClass: '' }),
      ],
      { sources: {}, podStatuses: {} },
    );
    assert.deepEqual(sources.map((s) => `${s.namespace}/${s.kind}/${s.name}=${s.hash}`).sort(), [
      'ns/SecretProviderClass/other=h2',
      'ns/SecretProviderClass/spc=h1',
      'ns2/SecretProviderClass/spc=h3',
    ]);
  });

  it('first seen: the content most pod statuses show, then the smallest hash', () => {
    assert.equal(classHash([pod('a', 'h2'), pod('b', 'h1'), pod('c', 'h2')]), 'h2');
    assert.equal(classHash([pod('a', 'h2'), pod('b', 'h1')]), 'h1');
  });

  it('an update of a pod status (same uid, other content) moves the class to that content', () => {
    const before = { classHash: 'h1', pods: [pod('a', 'h1'), pod('b', 'h1')] };
    assert.equal(classHash([pod('a', 'h2'), pod('b', 'h1')], before), 'h2');
  });

  it('a new pod, or a pod re-created under the same name, moves nothing: Reloader ignores creations', () => {
    const before = { classHash: 'h1', pods: [pod('a', 'h1')] };
    assert.equal(classHash([pod('a', 'h1'), pod('new', 'h2'), pod('new2', 'h2')], before), 'h1');
    assert.equal(classHash([pod('a', 'h2', { uid: 'other' }), pod('b', 'h1')], before), 'h1');
  });

  it('stays while a pod status shows it: old pods going and new ones coming (a rollout) move nothing', () => {
    const before = { classHash: 'h2', pods: [pod('a', 'h2'), pod('old', 'h1')] };
    assert.equal(classHash([pod('new', 'h2'), pod('old', 'h1')], before), 'h2');
    // Reloader rolls on the update that shows the class's content already: nothing new.
    const rotatedLate = { classHash: 'h2', pods: [pod('old', 'h1'), pod('new', 'h2')] };
    assert.equal(classHash([pod('old', 'h2'), pod('new', 'h2')], rotatedLate), 'h2');
  });

  it('when no pod status shows it any more (its change stayed pending), the content they show', () => {
    const before = { classHash: 'h1', pods: [pod('a', 'h2'), pod('b', 'h2')] };
    assert.equal(classHash([pod('a', 'h2'), pod('b', 'h2')], before), 'h2');
  });

  it('several pods updated to different contents: the one most of them show', () => {
    const before = { classHash: 'h1', pods: [pod('a', 'h1'), pod('b', 'h1'), pod('c', 'h1')] };
    assert.equal(classHash([pod('a', 'h3'), pod('b', 'h2'), pod('c', 'h3')], before), 'h3');
  });
});

describe('nextPodStatuses', () => {
  const listed = [pod('a', 'h2'), pod('b', 'h1', { secretProviderClass: 'other' })];
  const observed = {
    ...entries([pod('a', 'h1'), pod('b', 'h0', { secretProviderClass: 'other' })]),
    [podStatusId({ namespace: 'gone', name: 'x' })]: { uid: 'u', resourceVersion: '1', hash: 'h' },
    [podStatusId({ namespace: 'elsewhere', name: 'y' })]: {
      uid: 'u',
      resourceVersion: '1',
      hash: 'h',
    },
  };
  const isListed = (namespace: string) => namespace !== 'elsewhere';

  it('keeps what was listed, and what lies outside the namespaces listed', () => {
    const next = nextPodStatuses(listed, observed, { pending: new Set(), isListed });
    assert.deepEqual(Object.keys(next).sort(), [
      'elsewhere/SecretProviderClassPodStatus/y',
      'ns/SecretProviderClassPodStatus/a',
      'ns/SecretProviderClassPodStatus/b',
    ]);
    assert.equal(next['ns/SecretProviderClassPodStatus/a']?.hash, 'h2');
  });

  it("a pending class's pod statuses keep their old entries, so that the update is seen again", () => {
    const next = nextPodStatuses(listed, observed, { pending: new Set([spcId]), isListed });
    assert.equal(next['ns/SecretProviderClassPodStatus/a']?.hash, 'h1');
    assert.equal(next['ns/SecretProviderClassPodStatus/b']?.hash, 'h1', 'another class moves on');
    const fresh = nextPodStatuses([pod('new', 'h2')], {}, { pending: new Set([spcId]), isListed });
    assert.deepEqual(fresh, {}, 'a new one of a pending class waits too');
  });
});

describe('reloaderClassHashes', () => {
  it("Reloader's SHA1 of the content each class's hash stands for, where the pod statuses carry it", () => {
    const listed = [
      pod('a', 'h1', { reloaderSha: 's1' }),
      pod('b', 'h2', { reloaderSha: 's2' }),
      pod('c', 'h2', { reloaderSha: 's2' }),
      pod('d', 'h9', { secretProviderClass: 'unwanted' }),
    ];
    const classes = secretProviderClassSources(listed, { sources: {}, podStatuses: {} });
    assert.deepEqual(
      [...reloaderClassHashes(classes, listed)],
      [['ns/SecretProviderClass/spc', 's2']],
    );
  });
});
