import { AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { UsageError } from './kube.js';
import type { WorkloadKind } from './model.js';
import type { PassOptions } from './pass.js';

interface Need {
  verb: string;
  group: string;
  resource: string;
  namespace?: string | undefined;
  name?: string | undefined;
}

const resourceOf: Record<WorkloadKind, [string, string]> = {
  Deployment: ['apps', 'deployments'],
  StatefulSet: ['apps', 'statefulsets'],
  DaemonSet: ['apps', 'daemonsets'],
  CronJob: ['batch', 'cronjobs'],
  Job: ['batch', 'jobs'],
  Rollout: ['argoproj.io', 'rollouts'],
};

/** What a pass will call, so that a missing permission stops it before anything changes. */
export function neededPermissions(options: PassOptions): Need[] {
  const { scope, dryRun } = options;
  const namespaces = scope.namespaces.length > 0 ? scope.namespaces : [undefined];
  const needs: Need[] = [
    {
      verb: 'get',
      group: '',
      resource: 'secrets',
      namespace: options.hashKey.namespace,
      name: options.hashKey.name,
    },
  ];
  if (!dryRun) needs.push(...ownNamespaceNeeds(options.hashKey.namespace));
  if (scope.namespaceSelector) needs.push({ verb: 'list', group: '', resource: 'namespaces' });
  for (const namespace of namespaces) {
    for (const [kind, resource] of [
      ['ConfigMap', 'configmaps'],
      ['Secret', 'secrets'],
    ] as const) {
      if (!scope.resourcesToIgnore.includes(kind))
        needs.push({ verb: 'list', group: '', resource, namespace });
    }
    for (const kind of scope.workloadKinds) {
      if (kind === 'Rollout') continue; // optional: listed only where the API exists
      const [group, resource] = resourceOf[kind];
      const verbs = dryRun
        ? ['list']
        : kind === 'Job'
          ? ['list', 'get', 'delete', 'create']
          : ['list', 'get', 'patch'];
      for (const verb of verbs) needs.push({ verb, group, resource, namespace });
    }
  }
  return needs;
}

/** Creating the hash key, and holding the Lease, in the reloader's own namespace. */
function ownNamespaceNeeds(namespace: string): Need[] {
  return [
    { verb: 'create', group: '', resource: 'secrets', namespace },
    ...['get', 'create', 'update'].map((verb) => ({
      verb,
      group: 'coordination.k8s.io',
      resource: 'leases',
      namespace,
    })),
  ];
}

/** Asks the API server (SelfSubjectAccessReview) and fails with every permission that is missing. */
export async function checkPermissions(kc: KubeConfig, options: PassOptions): Promise<void> {
  const api = kc.makeApiClient(AuthorizationV1Api);
  const missing: string[] = [];
  for (const need of neededPermissions(options)) {
    const review = await api.createSelfSubjectAccessReview({
      body: { spec: { resourceAttributes: { ...need } } },
    });
    if (!review.status?.allowed) {
      const where = need.namespace ? `in namespace ${need.namespace}` : 'cluster-wide';
      missing.push(
        `${need.verb} ${need.group ? `${need.resource}.${need.group}` : need.resource} ${where}`,
      );
    }
  }
  if (missing.length > 0) throw new UsageError(`missing permission: ${missing.join('; ')}`);
}
