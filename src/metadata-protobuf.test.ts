import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeMetadataList, ProtobufError } from './metadata-protobuf.js';

// A small protobuf writer, enough to build what the API server sends.
const varint = (n: number): number[] => {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
};
const bytes = (field: number, value: number[] | string): number[] => {
  const body = typeof value === 'string' ? [...Buffer.from(value, 'utf8')] : value;
  return [...varint(field * 8 + 2), ...varint(body.length), ...body];
};
const number = (field: number, value: number): number[] => [...varint(field * 8), ...varint(value)];
const entry = (field: number, key: string, value: string): number[] =>
  bytes(field, [...bytes(1, key), ...bytes(2, value)]);
const body = (list: number[]): Buffer =>
  Buffer.from([
    ...[0x6b, 0x38, 0x73, 0x00],
    ...bytes(1, [...bytes(1, 'meta.k8s.io/v1'), ...bytes(2, 'PartialObjectMetadataList')]),
    ...bytes(2, list),
    ...bytes(4, 'application/vnd.kubernetes.protobuf'),
  ]);

const wanted = (key: string): boolean => key.startsWith('reloader.stakater.com/');

describe('decodeMetadataList', () => {
  it('reads names, uids, resourceVersions, the annotations asked for and the continue token', () => {
    const meta = [
      ...bytes(1, 'app-config'),
      ...bytes(3, 'shop'),
      ...bytes(5, 'uid-1'),
      ...bytes(6, '4711'),
      ...number(7, 300), // generation: a varint, skipped
      ...bytes(8, [...number(1, 1_700_000_000)]), // creationTimestamp, skipped
      ...entry(11, 'app', 'shop'), // a label, not read
      ...entry(12, 'kubectl.kubernetes.io/last-applied-configuration', '{"data":"…"}'),
      ...entry(12, 'reloader.stakater.com/match', 'true'),
      ...bytes(17, [...bytes(1, 'kubectl'), ...bytes(7, [...bytes(1, '{"f:data":{}}')])]),
    ];
    const list = [
      ...bytes(1, [...bytes(2, '900'), ...bytes(3, 'next-token'), ...number(4, 12)]),
      ...bytes(2, [...bytes(1, meta)]),
      ...bytes(2, [...bytes(1, [...bytes(1, 'plain'), ...bytes(3, 'shop'), ...bytes(6, '12')])]),
    ];
    assert.deepEqual(decodeMetadataList(body(list), wanted), {
      items: [
        {
          metadata: {
            name: 'app-config',
            namespace: 'shop',
            uid: 'uid-1',
            resourceVersion: '4711',
            annotations: { 'reloader.stakater.com/match': 'true' },
          },
        },
        { metadata: { name: 'plain', namespace: 'shop', resourceVersion: '12' } },
      ],
      metadata: { continue: 'next-token' },
    });
  });

  it('reads UTF-8 annotation values, and an empty list with no continue token', () => {
    const meta = [...bytes(1, 'a'), ...entry(12, 'reloader.stakater.com/match', 'grüße')];
    const page = decodeMetadataList(body(bytes(2, bytes(1, meta))), wanted);
    assert.equal(page.items[0]?.metadata.annotations?.['reloader.stakater.com/match'], 'grüße');
    assert.deepEqual(decodeMetadataList(body(bytes(1, [])), wanted), {
      items: [],
      metadata: {},
    });
  });

  it('refuses what is not a Kubernetes protobuf body, or is cut short', () => {
    assert.throws(() => decodeMetadataList(Buffer.from('{"items":[]}'), wanted), ProtobufError);
    const whole = body(bytes(2, bytes(1, bytes(1, 'a-long-name'))));
    assert.throws(
      () => decodeMetadataList(whole.subarray(0, whole.length - 40), wanted),
      ProtobufError,
    );
  });
});
