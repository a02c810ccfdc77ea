// The CRD of the Secrets Store CSI driver's SecretProviderClassPodStatus, as far as a test needs it
// (no CSI driver is needed: a test writes the pod statuses as the driver would).
import { ApiextensionsV1Api, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { kc, objects } from './harness.js';
import { eventually } from './kube.js';

export const podStatusApiVersion = 'secrets-store.csi.x-k8s.io/v1';

/**
 * The driver's v1 schema (config/crd/bases in kubernetes-sigs/secrets-store-csi-driver): `status`
 * is a plain field of the object, with no status subresource, so that the driver (and a test)
 * writes it with an ordinary update.
 */
const podStatusCrd: V1CustomResourceDefinition = {
  metadata: { name: 'secretproviderclasspodstatuses.secrets-store.csi.x-k8s.io' },
  spec: {
    group: 'secrets-store.csi.x-k8s.io',
    scope: 'Namespaced',
    names: {
      kind: 'SecretProviderClassPodStatus',
      listKind: 'SecretProviderClassPodStatusList',
      plural: 'secretproviderclasspodstatuses',
      singular: 'secretproviderclasspodstatus',
    },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              apiVersion: { type: 'string' },
              kind: { type: 'string' },
              metadata: { type: 'object' },
              status: {
                type: 'object',
                properties: {
                  mounted: { type: 'boolean' },
                  objects: {
                    type: 'array',
                    items: {
                      type: 'object',
                      properties: { id: { type: 'string' }, version: { type: 'string' } },
                    },
                  },
                  podName: { type: 'string' },
                  secretProviderClassName: { type: 'string' },
                  targetPath: { type: 'string' },
                },
              },
            },
          },
        },
      },
    ],
  },
};

/** Installs the CRD (once per control plane) and waits until its API is served. */
export async function installPodStatusCrd(): Promise<void> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const name = podStatusCrd.metadata?.name ?? '';
  try {
    await api.createCustomResourceDefinition({ body: podStatusCrd });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
  await eventually('the SecretProviderClassPodStatus API to be served', async () => {
    const crd = await api.readCustomResourceDefinition({ name });
    const established = crd.status?.conditions?.some(
      (c) => c.type === 'Established' && c.status === 'True',
    );
    if (!established) return undefined;
    // Served: a list answers (discovery can lag the condition by a moment).
    await objects.list(podStatusApiVersion, 'SecretProviderClassPodStatus', 'default');
    return true;
  });
}

export interface PodStatusObjects {
  id: string;
  version: string;
}

/**
 * Writes a SecretProviderClassPodStatus as the driver does for a pod that mounts `spc`: created
 * with the objects' versions, or (when it exists) updated to them, as a rotation does.
 */
export async function writePodStatus(
  namespace: string,
  name: string,
  spc: string,
  versions: PodStatusObjects[],
): Promise<void> {
  const status = {
    mounted: true,
    podName: name,
    secretProviderClassName: spc,
    targetPath: `/var/lib/kubelet/pods/${name}/volumes/kubernetes.io~csi/secrets/mount`,
    objects: versions,
  };
  const body = {
    apiVersion: podStatusApiVersion,
    kind: 'SecretProviderClassPodStatus',
    metadata: { name: `${name}-${namespace}-${spc}`, namespace },
    status,
  };
  try {
    const current = await objects.read(body);
    await objects.replace({ ...body, metadata: current.metadata, status });
  } catch (err) {
    if ((err as { code?: number }).code !== 404) throw err;
    await objects.create(body);
  }
}
