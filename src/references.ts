import type { V1Container, V1PodSpec, V1Volume } from '@kubernetes/client-node';

/** The two kinds of object whose content polling-reloader lists and hashes. */
export type ContentKind = 'ConfigMap' | 'Secret';

/**
 * The kinds of source whose changes roll workloads: ConfigMaps, Secrets, and (with
 * `--enable-csi-integration`) SecretProviderClasses, whose changes are seen in the
 * SecretProviderClassPodStatus objects of the Secrets Store CSI driver (src/csi.ts).
 */
export type SourceKind = ContentKind | 'SecretProviderClass';

export const sourceKinds: readonly SourceKind[] = ['ConfigMap', 'Secret', 'SecretProviderClass'];

/** Whether a string (the kind part of a key or an id) names a source kind. */
export function isSourceKind(kind: string | undefined): kind is SourceKind {
  return (sourceKinds as readonly (string | undefined)[]).includes(kind);
}

/** Reloader's name of each source type: in `last-reloaded-from`, `STAKATER_*` names, messages. */
export const reloaderTypeName: Record<SourceKind, string> = {
  ConfigMap: 'CONFIGMAP',
  Secret: 'SECRET',
  SecretProviderClass: 'SECRETPROVIDERCLASS',
};

/** A source that a pod spec uses, and the containers that use it. */
export interface Reference {
  kind: SourceKind;
  name: string;
  /** Names of the containers (init containers included) that read it, in pod spec order. */
  containers: string[];
}

/** Key of a reference within one namespace, e.g. `ConfigMap/app-config`. */
export function referenceKey(kind: SourceKind, name: string): string {
  return `${kind}/${name}`;
}

/**
 * Finds every source a pod spec references: env and envFrom of containers and init containers, and
 * configMap, secret, projected and CSI volumes (attributed to the containers that mount them, or to
 * the first regular container when none does). A CSI volume references the SecretProviderClass of
 * its `volumeAttributes.secretProviderClass`, whatever its driver, as Reloader reads it
 * (`getVolumeMountName` in its internal/pkg/handler/upgrade.go).
 */
export function podSpecReferences(spec: V1PodSpec | undefined): Reference[] {
  if (!spec) return [];
  const found = new Map<string, Reference>();
  const containers = [...(spec.initContainers ?? []), ...spec.containers];
  for (const container of containers) {
    addAll(found, containerSources(container), [container.name]);
  }
  for (const volume of spec.volumes ?? []) {
    addAll(found, volumeSources(volume), volumeUsers(volume, containers, spec.containers[0]?.name));
  }
  return [...found.values()];
}

function addAll(
  found: Map<string, Reference>,
  sources: [SourceKind, string | undefined][],
  users: string[],
): void {
  for (const [kind, name] of sources) {
    if (!name) continue;
    const key = referenceKey(kind, name);
    const ref = found.get(key) ?? { kind, name, containers: [] };
    for (const user of users) if (!ref.containers.includes(user)) ref.containers.push(user);
    found.set(key, ref);
  }
}

function volumeUsers(
  volume: V1Volume,
  containers: V1Container[],
  first: string | undefined,
): string[] {
  const users = containers.filter((c) => c.volumeMounts?.some((m) => m.name === volume.name));
  if (users.length > 0) return users.map((c) => c.name);
  return first ? [first] : [];
}

function containerSources(container: V1Container): [SourceKind, string | undefined][] {
  const out: [SourceKind, string | undefined][] = [];
  for (const env of container.env ?? []) {
    out.push(['ConfigMap', env.valueFrom?.configMapKeyRef?.name]);
    out.push(['Secret', env.valueFrom?.secretKeyRef?.name]);
  }
  for (const from of container.envFrom ?? []) {
    out.push(['ConfigMap', from.configMapRef?.name]);
    out.push(['Secret', from.secretRef?.name]);
  }
  return out;
}

function volumeSources(volume: V1Volume): [SourceKind, string | undefined][] {
  const out: [SourceKind, string | undefined][] = [
    ['ConfigMap', volume.configMap?.name],
    ['Secret', volume.secret?.secretName],
  ];
  for (const source of volume.projected?.sources ?? []) {
    out.push(['ConfigMap', source.configMap?.name]);
    out.push(['Secret', source.secret?.name]);
  }
  out.push(['SecretProviderClass', volume.csi?.volumeAttributes?.secretProviderClass]);
  return out;
}
