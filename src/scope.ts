import { listAll, resourcePath, resources, type Api } from './api.js';
import type { ContentKind } from './references.js';
import type { WorkloadKind } from './model.js';

/** What a pass looks at, from the namespace and resource flags. */
export interface Scope {
  /** Namespaces to list one by one; undefined lists cluster-wide. */
  namespaces: string[] | undefined;
  /** Whether a namespace is in scope (ignore list and namespace selector applied). */
  includes: (namespace: string) => boolean;
  resourceLabelSelector: string | undefined;
  sourceKinds: ContentKind[];
  /** `--enable-csi-integration`: SecretProviderClassPodStatus objects are listed too. */
  csiIntegration: boolean;
  workloadKinds: WorkloadKind[];
}

/**
 * Whether an entry of the observed state (`namespace/Kind/name`) is one this scope lists, so that
 * its absence means it was deleted. An entry outside the scope (another namespace, a kind ignored,
 * or any entry when the state was made with another label selector) is kept as it is: a one-off
 * run on part of the cluster neither forgets nor "deletes" the rest.
 */
export function listsEntry(scope: Scope, sameSelector: boolean): (id: string) => boolean {
  return (id) => {
    const [namespace = '', kind = ''] = id.split('/');
    const kinds: string[] = scope.sourceKinds;
    const listed = kinds.includes(kind) || (kind === 'SecretProviderClass' && scope.csiIntegration);
    return sameSelector && listed && listsNamespace(scope, namespace);
  };
}

/** Whether this scope lists a namespace: one of its namespaces, neither ignored nor unselected. */
export function listsNamespace(
  scope: Pick<Scope, 'namespaces' | 'includes'>,
  namespace: string,
): boolean {
  if (scope.namespaces && !scope.namespaces.includes(namespace)) return false;
  return scope.includes(namespace);
}

/** Whether this scope lists the namespace's SecretProviderClassPodStatus objects. */
export function listsPodStatuses(scope: Scope, namespace: string): boolean {
  return scope.csiIntegration && listsNamespace(scope, namespace);
}

/** Whether this scope lists a workload (`namespace/Kind/name`): its kind and its namespace. */
export function listsWorkload(scope: Scope, id: string): boolean {
  const [namespace = '', kind = ''] = id.split('/');
  if (!(scope.workloadKinds as string[]).includes(kind)) return false;
  return listsNamespace(scope, namespace);
}

export interface ScopeOptions {
  namespaces: string[];
  namespacesToIgnore: string[];
  namespaceSelector: string | undefined;
  resourceLabelSelector: string | undefined;
  resourcesToIgnore: ContentKind[];
  workloadKinds: WorkloadKind[];
  /** `--enable-csi-integration`. */
  csiIntegration?: boolean | undefined;
}

/** Resolves the scope flags; with a namespace selector, lists the namespaces it selects. */
export async function resolveScope(api: Api, options: ScopeOptions): Promise<Scope> {
  const ignored = new Set(options.namespacesToIgnore);
  let selected: Set<string> | undefined;
  if (options.namespaceSelector) {
    const names = await listAll(
      api,
      resourcePath(resources.namespaces),
      { labelSelector: options.namespaceSelector },
      (n: { metadata?: { name?: string } }) => n.metadata?.name,
    );
    selected = new Set(names);
  }
  const includes = (ns: string): boolean => !ignored.has(ns) && (!selected || selected.has(ns));
  const listed = options.namespaces.length > 0 ? options.namespaces : undefined;
  return {
    namespaces: listed?.filter(includes),
    includes,
    resourceLabelSelector: options.resourceLabelSelector,
    sourceKinds: (['ConfigMap', 'Secret'] as const).filter(
      (k) => !options.resourcesToIgnore.includes(k),
    ),
    workloadKinds: options.workloadKinds,
    csiIntegration: options.csiIntegration === true,
  };
}
