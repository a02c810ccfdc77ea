// SPEC §3: every workload kind is reloaded the way it must be.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ApiextensionsV1Api } from '@kubernetes/client-node';
import { apps, batch, container, kc, objects, reloaded, withTemplate, World } from './harness.js';
import { eventually } from './kube.js';

const auto = { 'reloader.stakater.com/auto': 'true' };
const podSpec = { containers: [container('app', { configMaps: ['app'] })], restartPolicy: 'Never' };
const spec = { annotations: auto, podSpec };

async function changeAndPass(world: World, ...flags: string[]): Promise<string[]> {
  await world.pass(...flags);
  await world.setConfigMap('app', { v: '2' });
  return reloaded(await world.pass(...flags));
}

/** A CronJob that never fires during a test (once a year), so only its template matters. */
async function cronJob(world: World, name: string): Promise<void> {
  const {
    metadata,
    spec: { template },
  } = withTemplate(name, spec);
  await batch.createNamespacedCronJob({
    namespace: world.namespace,
    body: { metadata, spec: { schedule: '0 3 1 1 *', jobTemplate: { spec: { template } } } },
  });
}

describe('workload kinds (SPEC §3)', () => {
  before(installRolloutCrd);

  it('StatefulSet and DaemonSet: the pod template is patched', async (t) => {
    const world = await World.create(t);
    await world.configMap('app', { v: '1' });
    const always = { ...podSpec, restartPolicy: 'Always' };
    await apps.createNamespacedStatefulSet({
      namespace: world.namespace,
      body: withTemplate('db', { ...spec, podSpec: always }, { serviceName: 'db', replicas: 1 }),
    });
    await apps.createNamespacedDaemonSet({
      namespace: world.namespace,
      body: withTemplate('agent', { ...spec, podSpec: always }),
    });
    const before = [
      await world.template('StatefulSet', 'db'),
      await world.template('DaemonSet', 'agent'),
    ];
    assert.deepEqual(await changeAndPass(world), ['DaemonSet/agent', 'StatefulSet/db']);
    assert.notEqual(await world.template('StatefulSet', 'db'), before[0]);
    assert.notEqual(await world.template('DaemonSet', 'agent'), before[1]);
    assert.ok(
      (await world.templateAnnotations('StatefulSet', 'db'))[
        'reloader.stakater.com/last-reloaded-from'
      ],
    );
  });

  it('CronJob: the job template is patched so the next Job uses the new config', async (t) => {
    const world = await World.create(t);
    await world.configMap('app', { v: '1' });
    await cronJob(world, 'nightly');
    assert.deepEqual(await changeAndPass(world), ['CronJob/nightly']);
    const annotations = await world.templateAnnotations('CronJob', 'nightly');
    assert.ok(
      annotations['polling-reloader.io/reloaded-hashes'],
      'jobTemplate.spec.template carries the record',
    );
  });

  it('Job: an unfinished Job is re-created with the same name and spec; a finished one is left alone', async (t) => {
    const world = await World.create(t);
    await world.configMap('app', { v: '1' });
    const job = (name: string, suspend: boolean) => {
      const {
        metadata,
        spec: { template },
      } = withTemplate(name, spec);
      return { metadata, spec: { suspend, backoffLimit: 2, template } };
    };
    await batch.createNamespacedJob({ namespace: world.namespace, body: job('waiting', true) });
    await batch.createNamespacedJob({ namespace: world.namespace, body: job('done', false) });
    await eventually(
      'the Job done to complete',
      async () =>
        ((await world.read('Job', 'done')).status?.conditions ?? []).some(
          (c) => c.type === 'Complete' && c.status === 'True',
        ) || undefined,
    );
    const waitingUid = (await world.read('Job', 'waiting')).metadata?.uid;
    const doneBefore = await world.read('Job', 'done');

    assert.deepEqual(await changeAndPass(world), ['Job/waiting']);
    const recreated = await world.read('Job', 'waiting');
    assert.notEqual(recreated.metadata?.uid, waitingUid, 'a new Job');
    assert.equal((recreated.spec as { suspend?: boolean }).suspend, true, 'with the same spec');
    assert.ok(
      (await world.templateAnnotations('Job', 'waiting'))['polling-reloader.io/reloaded-hashes'],
    );
    const doneAfter = await world.read('Job', 'done');
    assert.equal(doneAfter.metadata?.uid, doneBefore.metadata?.uid);
    assert.equal(doneAfter.metadata?.resourceVersion, doneBefore.metadata?.resourceVersion);
    assert.deepEqual(
      reloaded(await world.pass()),
      [],
      'the re-created Job is not re-created again',
    );
  });

  it('Argo Rollout: the template is patched, or spec.restartAt set under rollout-strategy: restart', async (t) => {
    const world = await World.create(t);
    await world.configMap('app', { v: '1' });
    const rollout = (name: string, annotations: Record<string, string>) => ({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Rollout',
      ...withTemplate(name, { annotations, podSpec }, { replicas: 1 }),
      metadata: { name, namespace: world.namespace, annotations },
    });
    await objects.create(rollout('canary', auto));
    await objects.create(
      rollout('restarted', { ...auto, 'reloader.stakater.com/rollout-strategy': 'restart' }),
    );
    const before = await world.template('Rollout', 'restarted');
    const canaryBefore = await world.template('Rollout', 'canary');
    assert.deepEqual(await changeAndPass(world), ['Rollout/canary', 'Rollout/restarted']);
    assert.notEqual(await world.template('Rollout', 'canary'), canaryBefore);
    const restarted = await world.read('Rollout', 'restarted');
    assert.equal(
      await world.template('Rollout', 'restarted'),
      before,
      'restart leaves the template alone',
    );
    const restartAt = (restarted.spec as { restartAt?: string }).restartAt;
    assert.ok(restartAt && Date.parse(restartAt) > Date.now() - 60_000, `restartAt: ${restartAt}`);
    assert.deepEqual(
      reloaded(await world.pass()),
      [],
      'the record on its metadata makes it exactly once',
    );
  });

  it('--ignored-workload-types=jobs,cronjobs leaves those kinds alone', async (t) => {
    const world = await World.create(t);
    await world.configMap('app', { v: '1' });
    await cronJob(world, 'nightly');
    await world.deployment('web', { ...spec, podSpec: { containers: podSpec.containers } });
    assert.deepEqual(await changeAndPass(world, '--ignored-workload-types=jobs,cronjobs'), [
      'Deployment/web',
    ]);
  });
});

/** The Argo Rollouts CRD, as far as a test needs it (no Argo controller is needed). */
async function installRolloutCrd(): Promise<void> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  try {
    await api.createCustomResourceDefinition({
      body: {
        metadata: { name: 'rollouts.argoproj.io' },
        spec: {
          group: 'argoproj.io',
          scope: 'Namespaced',
          names: {
            kind: 'Rollout',
            listKind: 'RolloutList',
            plural: 'rollouts',
            singular: 'rollout',
          },
          versions: [
            {
              name: 'v1alpha1',
              served: true,
              storage: true,
              schema: {
                openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true },
              },
              subresources: { status: {} },
            },
          ],
        },
      },
    });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
  await eventually('the Rollout API to be served', async () => {
    const crd = await api.readCustomResourceDefinition({ name: 'rollouts.argoproj.io' });
    return (
      crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ||
      undefined
    );
  });
}
