import type { Change } from './model.js';
import { listsNamespace, type Scope } from './scope.js';
import type { StateData } from './state.js';

/** Which workloads a pass lists: none, every one in scope, or those of some namespaces only. */
export type WorkloadListing =
  | { readonly list: 'none' }
  | { readonly list: 'all' }
  | { readonly list: 'namespaces'; readonly namespaces: readonly string[] };

/**
 * Above this many namespaces, a scope listed cluster-wide lists every workload at once rather
 * than namespace by namespace. Per namespace, a pass asks one list per kind and namespace (6
 * kinds: 60 requests at 10 namespaces), each small and answered from the API server's cache
 * by its namespace index; cluster-wide, it asks ⌈n/250⌉ pages per kind (13 for 2000 Deployments
 * and the 5 other kinds), but reads every workload of the cluster, which is the memory and the
 * bytes this saves. Up to 10 namespaces the requests stay bounded whatever the cluster's size;
 * a change that spans more (one Secret copied to every namespace, say) touches much of the
 * cluster anyway, and the cluster-wide list does it in the fewest requests.
 */
export const clusterWideAbove = 10;

export interface WorkloadNamespacesInput {
  /** The changes this pass saw. */
  changes: readonly Pick<Change, 'namespace'>[];
  /** The observed state, undefined when there is none: this pass records a baseline. */
  previous: Pick<StateData, 'paused' | 'heldBack' | 'waitingFor'> | undefined;
  scope: Pick<Scope, 'namespaces' | 'includes'>;
  /** Webhook mode (`--webhook-url`): no workload is ever listed. */
  webhook: boolean;
}

/**
 * Which workloads a pass must list. A pod can use only the ConfigMaps, Secrets and
 * SecretProviderClasses of its own namespace, so a change can only trigger workloads of its
 * namespace (Reloader, too, scans only the namespace of the changed object). Besides those, a
 * pass needs the workloads the state says are pending: a paused rollout to resume, a reload held
 * back by a batch, a rollout a batch waits for (its health is read from the list). A baseline
 * lists everything in scope: any workload may carry an outdated record (its own, or
 * Reloader's). Pure; the namespaces are those the scope lists, sorted.
 */
export function workloadNamespaces(input: WorkloadNamespacesInput): WorkloadListing {
  const { previous, scope } = input;
  if (input.webhook) return { list: 'none' };
  if (!previous) return { list: 'all' };
  const wanted = new Set(input.changes.map((c) => c.namespace));
  const pending = [
    ...(previous.paused ?? []),
    ...Object.keys(previous.heldBack ?? {}),
    ...(previous.waitingFor ?? []),
  ];
  for (const id of pending) wanted.add(namespaceOf(id));
  const namespaces = [...wanted].filter((ns) => listsNamespace(scope, ns)).sort();
  if (namespaces.length === 0) return { list: 'none' };
  // A scope of listed namespaces is listed one by one anyway: fewer of them is never dearer.
  if (!scope.namespaces && namespaces.length > clusterWideAbove) return { list: 'all' };
  return { list: 'namespaces', namespaces };
}

/** The namespace of a workload id (`namespace/Kind/name`). */
function namespaceOf(id: string): string {
  const slash = id.indexOf('/');
  return slash < 0 ? id : id.slice(0, slash);
}
