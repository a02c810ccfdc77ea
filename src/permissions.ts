import { resourcePath, resources, type Api } from './api.js';
import { UsageError } from './errors.js';
import type { WorkloadKind } from './model.js';
import type { PassOptions } from './pass.js';

interface Need {
  verb: string;
  group: string;
  resource: string;
  subresource?: string | undefined;
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
export function neededPermissions(options: PassOptions, stateNamespace?: string): Need[] {
  const { scope, dryRun, hashKey } = options;
  const needs: Need[] = [
    {
      verb: 'get',
      group: '',
      resource: 'secrets',
      namespace: hashKey.namespace,
      name: hashKey.name,
    },
  ];
  if (!dryRun) needs.push(...ownNamespaceNeeds(hashKey.namespace, stateNamespace));
  if (!dryRun && scope.workloadKinds.includes('Job')) {
    // A Job re-created by a reload is kept in a Secret meanwhile (src/job-stash.ts): listed by
    // label at each pass, created (above) and deleted once the new Job exists.
    for (const verb of ['list', 'delete'])
      needs.push({ verb, group: '', resource: 'secrets', namespace: hashKey.namespace });
  }
  if (scope.namespaceSelector) needs.push({ verb: 'list', group: '', resource: 'namespaces' });
  for (const namespace of scope.namespaces.length > 0 ? scope.namespaces : [undefined]) {
    needs.push(...namespaceNeeds(options, namespace));
  }
  return needs;
}

/** Listing sources and listing and changing workloads in one namespace (or cluster-wide). */
function namespaceNeeds(
  { scope, dryRun, runCronJobsNow }: PassOptions,
  namespace: string | undefined,
): Need[] {
  const needs: Need[] = [];
  for (const [kind, resource] of [
    ['ConfigMap', 'configmaps'],
    ['Secret', 'secrets'],
  ] as const) {
    if (!scope.resourcesToIgnore.includes(kind))
      needs.push({ verb: 'list', group: '', resource, namespace });
  }
  if (scope.csiIntegration) {
    const { group, plural } = resources.secretProviderClassPodStatuses;
    needs.push({ verb: 'list', group, resource: plural, namespace });
  }
  for (const kind of scope.workloadKinds) {
    if (kind === 'Rollout') continue; // optional: listed only where the API exists
    const [group, resource] = resourceOf[kind];
    const changes = kind === 'Job' ? ['get', 'delete', 'create'] : ['get', 'patch'];
    for (const verb of ['list', ...(dryRun ? [] : changes)])
      needs.push({ verb, group, resource, namespace });
    if (kind === 'Job' && !dryRun) {
      // A re-created Job takes the old one's place in its CronJob's status.active
      // (src/cronjob-active.ts).
      needs.push({ verb: 'get', group: 'batch', resource: 'cronjobs', namespace });
      needs.push({
        verb: 'patch',
        group: 'batch',
        resource: 'cronjobs',
        subresource: 'status',
        namespace,
      });
    }
  }
  if (!dryRun) needs.push(...actingNeeds(scope, runCronJobsNow === true, namespace));
  return needs;
}

/** Beyond the reloads themselves: the Jobs started from CronJobs, and the Events. */
function actingNeeds(
  scope: PassOptions['scope'],
  runCronJobsNow: boolean,
  namespace: string | undefined,
): Need[] {
  const needs: Need[] = [];
  const kinds = scope.workloadKinds;
  if (runCronJobsNow && kinds.includes('CronJob') && !kinds.includes('Job'))
    needs.push({ verb: 'create', group: 'batch', resource: 'jobs', namespace });
  // An Event on each workload reloaded, or that failed to be (src/reports/events.ts).
  needs.push({ verb: 'create', group: 'events.k8s.io', resource: 'events', namespace });
  return needs;
}

/** Creating the hash key and holding the Lease in the reloader's own namespace; the state's ConfigMaps. */
function ownNamespaceNeeds(namespace: string, stateNamespace: string | undefined): Need[] {
  const needs: Need[] = [{ verb: 'create', group: '', resource: 'secrets', namespace }];
  for (const verb of ['get', 'create', 'update']) {
    needs.push({ verb, group: 'coordination.k8s.io', resource: 'leases', namespace });
  }
  for (const verb of stateNamespace ? ['get', 'create', 'update', 'delete'] : []) {
    needs.push({ verb, group: '', resource: 'configmaps', namespace: stateNamespace });
  }
  return needs;
}

/**
 * Asks the API server (SelfSubjectAccessReview) and fails with every permission that is missing.
 * The reviews are sent at once (the client's few kept-alive connections carry them): one at a
 * time, their round trips were a tenth of a steady pass.
 */
export async function checkPermissions(
  api: Api,
  options: PassOptions,
  stateNamespace?: string,
): Promise<void> {
  const needs = neededPermissions(options, stateNamespace);
  const allowed = await Promise.all(needs.map((need) => review(api, need)));
  const missing = needs.filter((_, i) => !allowed[i]).map(describe);
  if (missing.length > 0) throw new UsageError(`missing permission: ${missing.join('; ')}`);
}

async function review(api: Api, need: Need): Promise<boolean> {
  // A review changes nothing, so it is safe to send again after a fault.
  const answer = await api.request<{ status?: { allowed?: boolean } }>({
    method: 'POST',
    path: resourcePath(resources.selfSubjectAccessReviews),
    body: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: { resourceAttributes: { ...need } },
    },
    idempotent: true,
  });
  return answer.status?.allowed === true;
}

function describe(need: Need): string {
  const where = need.namespace ? `in namespace ${need.namespace}` : 'cluster-wide';
  const resource = need.subresource ? `${need.resource}/${need.subresource}` : need.resource;
  return `${need.verb} ${need.group ? `${resource}.${need.group}` : resource} ${where}`;
}
