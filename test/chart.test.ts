// The Helm chart of cronjob/chart (issue 10): it lints, each mode × RBAC variant is accepted by the
// API server and grants exactly what the program checks, a pass as each rendering's ServiceAccount
// rolls a changed ConfigMap, and the arguments Reloader's own chart renders do the same.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import {
  ApiextensionsV1Api,
  PatchStrategy,
  setHeaderOptions,
  RbacAuthorizationV1Api,
  type KubernetesObject,
  type V1Container,
  type V1Deployment,
  type V1EnvVar,
  type V1Service,
} from '@kubernetes/client-node';
import { cli, startCli } from './cli.js';
import { autoWorld, core, kc, World } from './harness.js';
import { eventually } from './kube.js';
import {
  applyForReal,
  assertServerAccepts,
  expectedGrants,
  granted,
  objectsOf,
  podSpecOf,
  root,
  run,
  serviceAccountKubeConfig,
} from './rendered.js';

const chart = join(root, 'cronjob/chart');
const helmScript = join(root, 'scripts/helm');
const kubeconfig = process.env.TEST_KUBECONFIG ?? '';

async function helm(args: string[]): Promise<string> {
  return run(helmScript, args);
}

/** `helm template RELEASE cronjob/chart -n NAMESPACE --set …`. */
async function template(
  release: string,
  namespace: string,
  values: string[],
  flags: string[] = [],
): Promise<string> {
  const sets = values.flatMap((v) => ['--set', v]);
  return helm(['template', release, chart, '-n', namespace, ...sets, ...flags]);
}

function containerOf(objects: KubernetesObject[]): V1Container {
  const workload = objects.find((o) => o.kind === 'CronJob' || o.kind === 'Deployment');
  const container = podSpecOf(workload)?.containers[0];
  assert.ok(container, 'the rendering has a CronJob or Deployment with a container');
  return container;
}

/** The environment a rendered container would get in a pod of `namespace`. */
function podEnv(env: V1EnvVar[] | undefined, namespace: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env ?? []) {
    if (e.value !== undefined) out[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') out[e.name] = namespace;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') out[e.name] = 'reloader-0';
  }
  return out;
}

/** Deployment `web`'s pod template, which changes when it rolls. */
async function webTemplate(world: World): Promise<string> {
  return world.template('Deployment', 'web');
}

/** Deletes the cluster-scoped objects of a rendering when the test ends (namespaced ones go with their namespace). */
function deleteClusterScoped(t: TestContext, objects: KubernetesObject[]): void {
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  t.after(async () => {
    for (const o of objects) {
      const name = o.metadata?.name ?? '';
      if (o.kind === 'ClusterRole') await rbac.deleteClusterRole({ name }).catch(() => undefined);
      if (o.kind === 'ClusterRoleBinding')
        await rbac.deleteClusterRoleBinding({ name }).catch(() => undefined);
    }
  });
}

type Rbac = 'cluster-wide' | 'own-namespace' | 'listed-namespaces';

/** The values that give each RBAC variant, for a run meant to cover namespace `watched` only. */
function scopeValues(rbac: Rbac, watched: string): string[] {
  if (rbac === 'cluster-wide')
    return [`reloader.namespaceSelector=kubernetes.io/metadata.name=${watched}`];
  if (rbac === 'own-namespace') return ['reloader.watchGlobally=false'];
  return ['reloader.watchGlobally=false', `reloader.namespaces={${watched}}`];
}

const variants: { mode: 'cronjob' | 'deployment'; rbac: Rbac }[] = [
  { mode: 'cronjob', rbac: 'cluster-wide' },
  { mode: 'cronjob', rbac: 'own-namespace' },
  { mode: 'deployment', rbac: 'cluster-wide' },
  { mode: 'deployment', rbac: 'own-namespace' },
  { mode: 'deployment', rbac: 'listed-namespaces' },
];

describe('Helm chart (cronjob/chart)', () => {
  it('lints, and refuses bad values with the reason', async () => {
    for (const mode of ['cronjob', 'deployment']) {
      const out = await helm(['lint', '--strict', chart, '--set', `mode=${mode}`]);
      assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
    const refusals: [string[], RegExp][] = [
      [['mode=job'], /mode must be cronjob or deployment, not "job"/],
      [
        ['reloader.reloadStrategy=rolling'],
        /reloadStrategy must be default, annotations or env-vars/,
      ],
      [
        ['reloader.watchGlobally=false', 'reloader.namespaceSelector=team=a'],
        /namespaceSelector needs reloader.watchGlobally/,
      ],
      [
        ['reloader.serviceMonitor.enabled=true'],
        /serviceMonitor and reloader.podMonitor need mode: deployment/,
      ],
    ];
    for (const [values, why] of refusals) {
      await assert.rejects(template('r', 'default', values), why, values.join(' '));
    }
  });

  it('grants exactly what the program checks for the flags each set of values renders', async () => {
    const sets = [
      ['reloader.ignoreSecrets=true', 'reloader.ignoreJobs=true'],
      ['reloader.ignoreConfigMaps=true', 'reloader.ignoreCronJobs=true'],
      ['reloader.isArgoRollouts=false', 'reloader.enableCSIIntegration=true'],
      ['reloader.webhookUrl=https://hooks.example.com/x'],
      ['reloader.namespaceSelector=team=a', 'mode=deployment'],
      [
        'reloader.watchGlobally=false',
        'reloader.namespaces={team-a,team-b}',
        'reloader.ignoreJobs=true',
      ],
      ['state=configmap:elsewhere/reloader-state'],
    ];
    for (const values of sets) {
      const objects = objectsOf(await template('r', 'ops', values));
      const args = containerOf(objects).args ?? [];
      const listed = values.some((v) => v.startsWith('reloader.namespaces='));
      // Rollouts are listed without a check, where their API exists: not in the expected list.
      const noRollouts = values.some((v) => /isArgoRollouts=false|webhookUrl=/.test(v));
      const rollouts = noRollouts ? [] : listed ? ['team-a', 'team-b'] : ['*'];
      const state = args.find((a) => a.startsWith('--state=configmap:')) ?? '';
      assert.deepEqual(
        granted(objects),
        expectedGrants([...args.slice(1), '--lease-namespace=ops'], {
          rollouts,
          stateNamespace: state.slice('--state=configmap:'.length).split('/')[0] ?? '',
        }),
        values.join(' '),
      );
    }
  });

  for (const { mode, rbac } of variants) {
    it(`${mode} with ${rbac} RBAC: the API server takes it, it grants what a pass checks, and a pass as its ServiceAccount rolls a changed ConfigMap`, async (t) => {
      const world = await autoWorld(t);
      const elsewhere = await autoWorld(t);
      // The release's namespace: the watched one itself, except where namespaces are listed.
      const namespace =
        rbac === 'listed-namespaces' ? (await World.create(t)).namespace : world.namespace;
      const release = `${mode === 'cronjob' ? 'cj' : 'dp'}-${rbac.split('-')[0] ?? ''}`;
      const values = [`mode=${mode}`, ...scopeValues(rbac, world.namespace)];
      const yaml = await template(release, namespace, values);
      const objects = objectsOf(yaml);
      await assertServerAccepts(yaml, `${mode}/${rbac}`);

      const container = containerOf(objects);
      const args = container.args ?? [];
      assert.equal(args[0], 'run');
      assert.ok(args.includes(mode === 'cronjob' ? '--once' : '--interval=10s'), args.join(' '));
      const env = podEnv(container.env, namespace);
      assert.equal(env.KUBERNETES_NAMESPACE, rbac === 'own-namespace' ? namespace : undefined);
      if (rbac !== 'cluster-wide') {
        assert.ok(!objects.some((o) => o.kind?.startsWith('Cluster')), 'nothing cluster-wide');
      }
      assert.deepEqual(
        granted(objects),
        expectedGrants(
          [...args.slice(1), `--lease-namespace=${namespace}`],
          {
            rollouts: [rbac === 'cluster-wide' ? '*' : world.namespace],
            stateNamespace: namespace,
          },
          env,
        ),
        'the Roles grant exactly what the program checks',
      );

      // The ServiceAccount and its RBAC for real; the workload itself is not started.
      const identity = objects.filter((o) =>
        /^(ServiceAccount|(Cluster)?Role(Binding)?)$/.test(o.kind ?? ''),
      );
      deleteClusterScoped(t, identity);
      await applyForReal(t, identity.map((o) => JSON.stringify(o)).join('\n---\n'));
      const account = identity.find((o) => o.kind === 'ServiceAccount')?.metadata?.name ?? '';
      const sa = await serviceAccountKubeConfig(t, account, namespace);

      const passArgs = [
        ...args.slice(1).filter((a) => !a.startsWith('--interval')),
        '--once',
        `--kubeconfig=${sa.path}`,
      ];
      const baseline = await cli(passArgs, env);
      assert.equal(baseline.code, 0, baseline.stderr);
      const before = await webTemplate(world);
      const untouched = await webTemplate(elsewhere);
      await world.setConfigMap('app', { v: '2' });
      await elsewhere.setConfigMap('app', { v: '2' });
      const second = await cli(passArgs, env);
      assert.equal(second.code, 0, second.stderr);
      assert.notEqual(await webTemplate(world), before, 'the Deployment rolled');
      assert.equal(await webTemplate(elsewhere), untouched, 'nothing outside the scope rolled');
      const state = await core.listNamespacedConfigMap({ namespace });
      assert.ok(
        state.items.some((c) => c.metadata?.name?.startsWith(`${release}-polling-reloader-state`)),
        'the state is in the release namespace',
      );
    });
  }

  it('deployment mode: a ServiceMonitor and a PodMonitor scrape the metrics port, where that API exists', async (t) => {
    await monitoringCrds(t);
    const world = await autoWorld(t);
    const values = [
      'mode=deployment',
      'reloader.serviceMonitor.enabled=true',
      'reloader.podMonitor.enabled=true',
    ];
    const without = objectsOf(await template('mon', world.namespace, values));
    assert.ok(
      !without.some((o) => o.kind === 'ServiceMonitor' || o.kind === 'PodMonitor'),
      'none without the API, as Reloader',
    );

    const yaml = await template('mon', world.namespace, values, [
      '--api-versions=monitoring.coreos.com/v1',
    ]);
    await assertServerAccepts(yaml, 'monitors');
    const objects = objectsOf(yaml);
    const deployment = objects.find((o): o is V1Deployment => o.kind === 'Deployment');
    const podLabels = deployment?.spec?.template.metadata?.labels ?? {};
    const ports = containerOf(objects).ports?.map((p) => [p.name, p.containerPort]);
    assert.deepEqual(ports, [['http', 9090]], '/metrics on :9090, as Reloader');
    const service = objects.find((o): o is V1Service => o.kind === 'Service');
    assert.ok(service?.spec, 'a Service for the ServiceMonitor');
    assert.ok(matches(service.spec.selector, podLabels), 'the Service selects the pods');
    assert.deepEqual(
      service.spec.ports?.map((p) => p.targetPort),
      ['http'],
    );
    assertMonitor(objects, 'ServiceMonitor', service.metadata?.labels ?? {});
    assertMonitor(objects, 'PodMonitor', podLabels);
  });

  const fixture = JSON.parse(
    readFileSync(join(root, 'test/fixtures/reloader-chart.json'), 'utf8'),
  ) as {
    renderings: { values: string[]; args: string[]; env: V1EnvVar[] }[];
  };
  for (const rendering of fixture.renderings) {
    it(`the arguments Reloader's chart renders (${rendering.values.join(' ')}) start polling-reloader, and it rolls a changed ConfigMap`, async (t) => {
      const world = await autoWorld(t);
      const elsewhere = await autoWorld(t);
      // The rendering that selects namespaces by label selects this one.
      await core.patchNamespace(
        {
          name: world.namespace,
          body: { metadata: { labels: { 'reloader-test': 'chart-fixture' } } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      const env = {
        ...podEnv(rendering.env, world.namespace),
        KUBECONFIG: kubeconfig,
        // What the chart leaves to the poller's defaults, set for a test: where the state is, and a short period.
        POLLING_RELOADER_STATE: world.statePath,
        POLLING_RELOADER_INTERVAL: '1s',
      };
      const running = startCli(t, rendering.args, env);
      await eventually('a first pass to record its state', () =>
        Promise.resolve(existsSync(world.statePath) ? true : undefined),
      );
      const before = await webTemplate(world);
      const untouched = await webTemplate(elsewhere);
      await world.setConfigMap('app', { v: '2' });
      await elsewhere.setConfigMap('app', { v: '2' });
      await eventually(
        'the Deployment to roll',
        async () => ((await webTemplate(world)) !== before ? true : undefined),
        30_000,
      );
      assert.equal(
        await webTemplate(elsewhere),
        untouched,
        'a namespace outside its scope did not roll',
      );
      running.kill('SIGTERM');
      assert.equal(await running.exited, 0, running.output());
    });
  }
});

interface Endpoint {
  path?: string;
  port?: string;
  targetPort?: string;
}

interface Monitor {
  kind?: string;
  spec?: {
    selector?: { matchLabels?: Record<string, string> };
    endpoints?: Endpoint[];
    podMetricsEndpoints?: Endpoint[];
  };
}

/** A monitor of the rendering selects `target`'s labels and scrapes /metrics on the port named http. */
function assertMonitor(
  objects: KubernetesObject[],
  kind: string,
  target: Record<string, string>,
): void {
  const monitor: Monitor | undefined = objects.find((o) => o.kind === kind);
  assert.ok(monitor?.spec, kind);
  assert.ok(matches(monitor.spec.selector?.matchLabels, target), `${kind} selects its target`);
  const [endpoint] = monitor.spec.endpoints ?? monitor.spec.podMetricsEndpoints ?? [];
  assert.deepEqual(
    { path: endpoint?.path, port: endpoint?.targetPort ?? endpoint?.port },
    { path: '/metrics', port: 'http' },
    kind,
  );
}

function matches(
  selector: Record<string, string> | undefined,
  labels: Record<string, string>,
): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/**
 * ServiceMonitor and PodMonitor CRDs as the Prometheus Operator names them, with an open schema:
 * enough for the API server to take the chart's monitors. Left installed, as other tests' CRDs.
 */
async function monitoringCrds(t: TestContext): Promise<void> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  for (const [kind, plural] of [
    ['ServiceMonitor', 'servicemonitors'],
    ['PodMonitor', 'podmonitors'],
  ] as const) {
    const name = `${plural}.monitoring.coreos.com`;
    await api
      .createCustomResourceDefinition({
        body: {
          metadata: { name },
          spec: {
            group: 'monitoring.coreos.com',
            scope: 'Namespaced',
            names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
            versions: [
              {
                name: 'v1',
                served: true,
                storage: true,
                schema: {
                  openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true },
                },
              },
            ],
          },
        },
      })
      .catch((err: unknown) => {
        if ((err as { code?: number }).code !== 409) throw err;
      });
    await eventually(`${name} to be established`, async () => {
      const crd = await api.readCustomResourceDefinition({ name });
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')
        ? true
        : undefined;
    });
  }
  t.diagnostic('monitoring.coreos.com CRDs installed');
}
