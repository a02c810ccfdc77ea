// The test control plane is real: it stores objects, rolls Deployments onto the kwok node, issues
// ServiceAccount tokens and enforces RBAC. Every other integration test relies on these facts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AppsV1Api,
  CoreV1Api,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
  type V1Deployment,
  type V1Pod,
} from '@kubernetes/client-node';
import {
  adminKubeConfig,
  eventually,
  testNamespace,
  tokenKubeConfig,
  watchStatus,
} from './kube.js';

const kc = adminKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);

function deployment(name: string): V1Deployment {
  const labels = { app: name };
  return {
    metadata: { name },
    spec: {
      replicas: 2,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1' }] },
      },
    },
  };
}

async function runningPods(namespace: string, app: string): Promise<V1Pod[]> {
  const pods = await core.listNamespacedPod({ namespace, labelSelector: `app=${app}` });
  return pods.items.filter((p) => !p.metadata?.deletionTimestamp);
}

async function rolledOut(
  namespace: string,
  name: string,
  replicas: number,
): Promise<V1Pod[] | undefined> {
  const pods = await runningPods(namespace, name);
  const ready = pods.filter(
    (p) => p.status?.phase === 'Running' && p.spec?.nodeName === 'kwok-node-0',
  );
  const d = await apps.readNamespacedDeployment({ name, namespace });
  const done =
    d.status?.observedGeneration === d.metadata?.generation &&
    d.status?.updatedReplicas === replicas &&
    d.status.replicas === replicas;
  return done && pods.length === replicas && ready.length === replicas ? pods : undefined;
}

describe('test control plane', () => {
  it('lists namespaces through @kubernetes/client-node with the admin kubeconfig', async () => {
    const names = (await core.listNamespace()).items.map((n) => n.metadata?.name);
    assert.ok(names.includes('default'), `namespaces: ${names.join(', ')}`);
    assert.ok(names.includes('kube-system'), `namespaces: ${names.join(', ')}`);
  });

  it('rolls a Deployment onto the kwok node, and rolls it again when its template changes', async (t) => {
    const namespace = await testNamespace(t, kc);
    await apps.createNamespacedDeployment({ namespace, body: deployment('web') });
    const first = await eventually('2 Running pods on kwok-node-0', () =>
      rolledOut(namespace, 'web', 2),
    );
    const firstSets = await apps.listNamespacedReplicaSet({ namespace });
    assert.equal(firstSets.items.length, 1, 'one ReplicaSet for the first revision');

    await apps.patchNamespacedDeployment(
      {
        name: 'web',
        namespace,
        body: {
          spec: { template: { metadata: { annotations: { 'example.com/reloaded': 'now' } } } },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const oldNames = new Set(first.map((p) => p.metadata?.name));
    const second = await eventually('old pods replaced by new Running ones', async () => {
      const pods = await rolledOut(namespace, 'web', 2);
      return pods?.every((p) => !oldNames.has(p.metadata?.name)) ? pods : undefined;
    });
    const sets = await apps.listNamespacedReplicaSet({ namespace });
    assert.equal(sets.items.length, 2, 'a second ReplicaSet for the changed template');
    for (const pod of second) {
      assert.equal(pod.metadata?.annotations?.['example.com/reloaded'], 'now');
    }
  });

  it('enforces RBAC: a ServiceAccount that may get and list ConfigMaps is refused a watch', async (t) => {
    const namespace = await testNamespace(t, kc);
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({
      namespace,
      body: { metadata: { name: 'reader' } },
    });
    await rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name: 'list-configmaps' },
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: 'reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'list-configmaps' },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace }],
      },
    });
    const request = await core.createNamespacedServiceAccountToken({
      name: 'reader',
      namespace,
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const token = request.status?.token;
    assert.ok(token, 'TokenRequest returned a token');

    const asReader = tokenKubeConfig(kc, token);
    const listed = await asReader.makeApiClient(CoreV1Api).listNamespacedConfigMap({ namespace });
    assert.ok(Array.isArray(listed.items), 'list is allowed');

    const status = await watchStatus(asReader, `/api/v1/namespaces/${namespace}/configmaps`);
    assert.equal(status, 403, 'watch is forbidden');
    await assert.rejects(
      asReader.makeApiClient(CoreV1Api).listNamespacedSecret({ namespace }),
      (err: { code?: number }) => err.code === 403,
      'secrets are not granted at all',
    );
  });
});
