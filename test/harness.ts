import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  KubernetesObjectApi,
  type KubeConfig,
  type V1Container,
  type V1PodSpec,
} from '@kubernetes/client-node';
import type { Api } from '../src/api.js';
import { connect } from '../src/kube.js';
import type { WorkloadKind } from '../src/model.js';
import { parseRunFlags, passOptions } from '../src/options.js';
import { runPass, type PassReport } from '../src/pass.js';
import { openStateStore } from '../src/configmap-state.js';
import type { StateStore } from '../src/state.js';
import { kindInfo, podTemplate, type WorkloadObject } from '../src/workloads.js';
import { admissionPolicy, adminKubeConfig, testNamespace } from './kube.js';

export const kc: KubeConfig = adminKubeConfig();
/** The program's own client, on the same admin kubeconfig. */
export const api: Api = connect({ kubeconfig: process.env.TEST_KUBECONFIG });
export const core = kc.makeApiClient(CoreV1Api);
export const apps = kc.makeApiClient(AppsV1Api);
export const batch = kc.makeApiClient(BatchV1Api);
export const objects = KubernetesObjectApi.makeApiClient(kc);

export const image = 'registry.invalid/app:1';

/** A container that reads the given ConfigMaps and Secrets through envFrom. */
export function container(
  name: string,
  uses: { configMaps?: string[]; secrets?: string[] } = {},
): V1Container {
  return {
    name,
    image,
    envFrom: [
      ...(uses.configMaps ?? []).map((n) => ({ configMapRef: { name: n, optional: true } })),
      ...(uses.secrets ?? []).map((n) => ({ secretRef: { name: n, optional: true } })),
    ],
  };
}

export interface WorkloadSpec {
  annotations?: Record<string, string>;
  templateAnnotations?: Record<string, string>;
  podSpec: V1PodSpec;
}

/**
 * One test's world: its own namespace (which also holds the hash key), its own state file, and
 * passes run through the same flag parsing as the CLI, scoped to that namespace unless told not to.
 */
export class World {
  private constructor(
    readonly namespace: string,
    readonly statePath: string,
  ) {}

  static async create(t: TestContext): Promise<World> {
    const namespace = await testNamespace(t, kc, 'r');
    const dir = mkdtempSync(join(tmpdir(), 'polling-reloader-test-'));
    t.after(() => {
      rmSync(dir, { recursive: true, force: true });
    });
    return new World(namespace, join(dir, 'state.json'));
  }

  /** Flags every pass of this world gets, before the test's own. */
  baseArgs(): string[] {
    return ['--once', `--state=${this.statePath}`, `--lease-namespace=${this.namespace}`];
  }

  /** One pass with these flags; a failed reload fails the test unless it says it expects one. */
  async pass(...args: string[]): Promise<PassReport> {
    const report = await this.passAllowingFailures(...args);
    const failed = report.outcomes.filter((o) => o.outcome.status === 'failed');
    if (failed.length > 0)
      throw new Error(`reloads failed: ${JSON.stringify(failed.map((f) => f.outcome))}`);
    return report;
  }

  async passAllowingFailures(...args: string[]): Promise<PassReport> {
    return this.passWith((store) => store, ...args);
  }

  /** A pass whose state store is wrapped, for example to make its save fail like a crash would. */
  async passWith(wrap: (store: StateStore) => StateStore, ...args: string[]): Promise<PassReport> {
    const scoped = args.some((a) => a.startsWith('--namespace'))
      ? []
      : [`--namespaces=${this.namespace}`];
    const flags = parseRunFlags([...this.baseArgs(), ...scoped, ...args]);
    const store = wrap(await openStateStore(api, flags.state, flags.dryRun));
    return runPass({ api, store, now: () => new Date() }, passOptions(flags));
  }

  async configMap(
    name: string,
    data: Record<string, string>,
    annotations?: Record<string, string>,
    labels?: Record<string, string>,
  ): Promise<void> {
    await core.createNamespacedConfigMap({
      namespace: this.namespace,
      body: { metadata: { name, annotations, labels }, data },
    });
  }

  async setConfigMap(name: string, data: Record<string, string>): Promise<void> {
    const cm = await core.readNamespacedConfigMap({ name, namespace: this.namespace });
    cm.data = data;
    await core.replaceNamespacedConfigMap({ name, namespace: this.namespace, body: cm });
  }

  async secret(
    name: string,
    data: Record<string, string>,
    annotations?: Record<string, string>,
  ): Promise<void> {
    await core.createNamespacedSecret({
      namespace: this.namespace,
      body: { metadata: { name, annotations }, stringData: data },
    });
  }

  async setSecret(name: string, data: Record<string, string>): Promise<void> {
    const secret = await core.readNamespacedSecret({ name, namespace: this.namespace });
    secret.data = Object.fromEntries(
      Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
    );
    await core.replaceNamespacedSecret({ name, namespace: this.namespace, body: secret });
  }

  /** A Deployment of one replica; `extra` adds to its spec (`progressDeadlineSeconds`, say). */
  async deployment(
    name: string,
    spec: WorkloadSpec,
    extra: Record<string, unknown> = {},
  ): Promise<void> {
    await apps.createNamespacedDeployment({
      namespace: this.namespace,
      body: withTemplate(name, spec, { replicas: 1, ...extra }),
    });
  }

  /** The object as the API holds it now. */
  async read(kind: WorkloadKind, name: string): Promise<WorkloadObject> {
    return objects.read<WorkloadObject>({
      apiVersion: kindInfo[kind].apiVersion,
      kind,
      metadata: { name, namespace: this.namespace },
    });
  }

  /** The pod template's annotations: where a reload shows. */
  async templateAnnotations(kind: WorkloadKind, name: string): Promise<Record<string, string>> {
    return podTemplate(await this.read(kind, name), kind)?.metadata?.annotations ?? {};
  }

  /** A fingerprint of the pod template: it changes exactly when the workload is reloaded. */
  async template(kind: WorkloadKind, name: string): Promise<string> {
    return JSON.stringify(podTemplate(await this.read(kind, name), kind));
  }
}

/** A workload body whose pod template carries the labels a selector needs. */
export function withTemplate(
  name: string,
  spec: WorkloadSpec,
  extra: Record<string, unknown> = {},
): {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: Record<string, unknown> & {
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
      spec: V1PodSpec;
    };
  };
} {
  const labels = { app: name };
  return {
    metadata: { name, annotations: spec.annotations },
    spec: {
      ...extra,
      selector: { matchLabels: labels },
      template: { metadata: { labels, annotations: spec.templateAnnotations }, spec: spec.podSpec },
    },
  };
}

/** Names of the workloads a pass reloaded (patched or re-created). */
export function reloaded(report: PassReport): string[] {
  return report.outcomes
    .filter((o) => o.outcome.status === 'patched' || o.outcome.status === 'recreated')
    .map((o) => `${o.reload.workload.kind}/${o.reload.workload.name}`)
    .sort();
}

/** A world with ConfigMap `app` and Deployment `web` that auto-reloads when `app` changes. */
export async function autoWorld(t: TestContext): Promise<World> {
  const world = await World.create(t);
  await world.configMap('app', { v: '1' });
  await world.deployment('web', {
    annotations: { 'reloader.stakater.com/auto': 'true' },
    podSpec: { containers: [container('app', { configMaps: ['app'] })] },
  });
  return world;
}

/**
 * Makes the API server refuse every update of Deployment `name` in `namespace` (a
 * ValidatingAdmissionPolicy), so that its reloads fail. Returns what lifts it; the test lifts it
 * in any case when it ends.
 */
export async function denyUpdates(
  t: TestContext,
  namespace: string,
  name: string,
): Promise<() => Promise<void>> {
  return admissionPolicy(t, kc, {
    name: `deny-${namespace}`,
    namespace,
    rule: { apiGroups: ['apps'], resources: ['deployments'], operations: ['UPDATE'] },
    expression: `object.metadata.name != '${name}'`,
    message: 'updates refused for the test',
    accepted: () =>
      apps
        .patchNamespacedDeployment({
          name,
          namespace,
          dryRun: 'All',
          body: [{ op: 'add', path: '/metadata/labels', value: { probe: 'x' } }],
        })
        .then(
          () => true,
          () => false,
        ),
  });
}
