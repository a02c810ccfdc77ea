import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1PodSpec } from '@kubernetes/client-node';
import { podSpecReferences } from './references.js';

describe('podSpecReferences', () => {
  it('finds env, envFrom and volume references in containers and init containers', () => {
    const spec: V1PodSpec = {
      initContainers: [{ name: 'init', envFrom: [{ secretRef: { name: 'init-secret' } }] }],
      containers: [
        {
          name: 'app',
          env: [
            { name: 'A', valueFrom: { configMapKeyRef: { name: 'env-cm', key: 'a' } } },
            { name: 'B', valueFrom: { secretKeyRef: { name: 'env-secret', key: 'b' } } },
            { name: 'C', value: 'plain' },
          ],
          envFrom: [{ configMapRef: { name: 'from-cm' } }],
          volumeMounts: [{ name: 'files', mountPath: '/etc/files' }],
        },
        { name: 'sidecar', volumeMounts: [{ name: 'proj', mountPath: '/p' }] },
      ],
      volumes: [
        { name: 'files', configMap: { name: 'vol-cm' } },
        { name: 'creds', secret: { secretName: 'vol-secret' } },
        {
          name: 'proj',
          projected: {
            sources: [{ configMap: { name: 'proj-cm' } }, { secret: { name: 'proj-secret' } }],
          },
        },
      ],
    };
    const refs = podSpecReferences(spec).map(
      (r) => `${r.kind}/${r.name}:${r.containers.join('+')}`,
    );
    assert.deepEqual(refs.sort(), [
      'ConfigMap/env-cm:app',
      'ConfigMap/from-cm:app',
      'ConfigMap/proj-cm:sidecar',
      'ConfigMap/vol-cm:app',
      'Secret/env-secret:app',
      'Secret/init-secret:init',
      'Secret/proj-secret:sidecar',
      // mounted by no container: attributed to the first regular container
      'Secret/vol-secret:app',
    ]);
  });

  it('merges repeated references into one entry per object', () => {
    const spec: V1PodSpec = {
      containers: [
        { name: 'a', envFrom: [{ configMapRef: { name: 'shared' } }] },
        { name: 'b', envFrom: [{ configMapRef: { name: 'shared' } }] },
      ],
      volumes: [{ name: 'v', configMap: { name: 'shared' } }],
    };
    assert.deepEqual(podSpecReferences(spec), [
      { kind: 'ConfigMap', name: 'shared', containers: ['a', 'b'] },
    ]);
  });

  it('returns nothing for a missing spec', () => {
    assert.deepEqual(podSpecReferences(undefined), []);
  });
});

describe('podSpecReferences: CSI volumes', () => {
  it('a CSI volume references the SecretProviderClass of its volumeAttributes, for the containers that mount it', () => {
    const spec: V1PodSpec = {
      containers: [
        { name: 'app', volumeMounts: [{ name: 'secrets', mountPath: '/mnt/secrets' }] },
        { name: 'sidecar' },
      ],
      volumes: [
        {
          name: 'secrets',
          csi: {
            driver: 'secrets-store.csi.k8s.io',
            readOnly: true,
            volumeAttributes: { secretProviderClass: 'vault-db' },
          },
        },
        {
          name: 'other-csi',
          csi: { driver: 'ebs.csi.aws.com', volumeAttributes: { type: 'gp3' } },
        },
        {
          name: 'unmounted',
          csi: {
            driver: 'secrets-store.csi.k8s.io',
            volumeAttributes: { secretProviderClass: 'spare' },
          },
        },
      ],
    };
    assert.deepEqual(podSpecReferences(spec), [
      { kind: 'SecretProviderClass', name: 'vault-db', containers: ['app'] },
      { kind: 'SecretProviderClass', name: 'spare', containers: ['app'] },
    ]);
  });
});
