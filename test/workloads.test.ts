// SPEC §3: every workload kind is reloaded the way it must be.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it, type TestContext } from 'node:test';
import {
  ApiextensionsV1Api,
  type V1Job,
  type V1ObjectReference,
  type V1OwnerReference,
} from '@kubernetes/client-node';
import { cli, startCli } from './cli.js';
import type { WorkloadObject } from '../src/workloads.js';
import {
  api,
  apps,
  batch,
  container,
  core,
  kc,
  objects,
  reloaded,
  withTemplate,
  World,
} from './harness.js';
import { admissionPolicy, eventually } from './kube.js';

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

const record = 'polling-reloader.io/reloaded-hashes';
/** A literal env value in a Job's spec: it is kept in the stash, and never shown. */
const literal = 'literal-env-value-never-logged';
/** Jobs with this label are refused by `denyJobCreates`. */
const guarded = { 'test.polling-reloader.io/guarded': 'true' };

/**
 * An unfinished Job that uses ConfigMap `app`: its pod asks for a node no node is (kwok's node
 * would run it), so it stays pending, and the Job unfinished.
 */
function pendingJob(
  name: string,
  meta: {
    labels?: Record<string, string>;
    ownerReferences?: V1OwnerReference[];
    finalizers?: string[];
  } = {},
): V1Job {
  const { metadata, spec: body } = withTemplate(name, {
    ...spec,
    podSpec: {
      ...podSpec,
      containers: [
        Object.assign(container('app', { configMaps: ['app'] }), {
          env: [{ name: 'TOKEN', value: literal }],
        }),
      ],
      nodeSelector: { 'test.polling-reloader.io/no-such-node': 'true' },
    },
  });
  return {
    metadata: { ...metadata, ...meta },
    spec: { backoffLimit: 2, template: body.template },
  };
}

/** The Job, or undefined when there is none of that name. */
async function readJob(world: World, name: string): Promise<V1Job | undefined> {
  try {
    return await batch.readNamespacedJob({ name, namespace: world.namespace });
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

/** A Job started as Reloader starts one from a CronJob: named after it, owned by it, "manual". */
function startedFrom(
  job: V1Job | undefined,
  cronJob: string,
  uid: string | undefined,
): NonNullable<V1Job['spec']> {
  assert.ok(job?.metadata && job.spec, 'a Job');
  assert.match(job.metadata.name ?? '', new RegExp(`^${cronJob}-`));
  assert.equal(job.metadata.annotations?.['cronjob.kubernetes.io/instantiate'], 'manual');
  const owner = job.metadata.ownerReferences?.[0];
  assert.deepEqual(
    [owner?.kind, owner?.name, owner?.uid, owner?.controller],
    ['CronJob', cronJob, uid, true],
  );
  return job.spec;
}

/** The Jobs of the test's namespace. */
async function jobsOf(world: World): Promise<V1Job[]> {
  return (await batch.listNamespacedJob({ namespace: world.namespace })).items;
}

/** The Secrets that keep a Job between its delete and its re-creation (src/job-stash.ts). */
async function stashes(world: World): Promise<string[]> {
  const list = await core.listNamespacedSecret({
    namespace: world.namespace,
    labelSelector: 'polling-reloader.io/purpose=job-recreation',
  });
  return list.items.map((s) => s.metadata?.name ?? '');
}

/**
 * Makes the API server refuse to create Jobs labelled `guarded` in one namespace, as an admission
 * webhook might (a ValidatingAdmissionPolicy). Returns what removes it; the test removes it too.
 */
async function denyJobCreates(t: TestContext, namespace: string): Promise<() => Promise<void>> {
  const [key] = Object.keys(guarded);
  return admissionPolicy(t, kc, {
    name: `deny-jobs-${namespace}`,
    namespace,
    rule: { apiGroups: ['batch'], resources: ['jobs'], operations: ['CREATE'] },
    expression: `!has(object.metadata.labels) || !('${key ?? ''}' in object.metadata.labels)`,
    message: 'guarded Jobs may not be created now (test policy)',
    accepted: () =>
      batch
        .createNamespacedJob({
          namespace,
          dryRun: 'All',
          body: pendingJob('probe', { labels: guarded }),
        })
        .then(
          () => true,
          () => false,
        ),
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
    assert.deepEqual(await jobsOf(world), [], 'no Job is started without --run-cronjobs-now');
  });

  it('CronJob with --run-cronjobs-now: a Job is started at once from the new template, as Reloader does, and once', async (t) => {
    const world = await World.create(t);
    await world.configMap('app', { v: '1' });
    await cronJob(world, 'nightly');
    await cronJob(world, 'paused');
    await batch.patchNamespacedCronJob({
      name: 'paused',
      namespace: world.namespace,
      body: [{ op: 'add', path: '/spec/suspend', value: true }],
    });
    const uid = (await world.read('CronJob', 'nightly')).metadata?.uid;
    const flag = '--run-cronjobs-now';
    assert.deepEqual(await changeAndPass(world, flag), ['CronJob/nightly', 'CronJob/paused']);

    const jobs = await jobsOf(world);
    assert.equal(jobs.length, 1, 'one Job, and none from the suspended CronJob');
    const started = startedFrom(jobs[0], 'nightly', uid);
    assert.equal(
      started.template.metadata?.annotations?.[record],
      (await world.templateAnnotations('CronJob', 'nightly'))[record],
      'the Job runs the new template',
    );

    assert.deepEqual(reloaded(await world.pass(flag)), [], 'a pass with no change');
    assert.equal((await jobsOf(world)).length, 1, 'starts no other Job');
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

  it('Job owned by a CronJob: re-created with the same ownerReferences, so its CronJob still owns it', async (t) => {
    const world = await World.create(t);
    await world.configMap('app', { v: '1' });
    await cronJob(world, 'nightly');
    const owner = await controllerOf(world, 'nightly');
    await batch.createNamespacedJob({
      namespace: world.namespace,
      body: pendingJob('nightly-1', { ownerReferences: [owner] }),
    });
    const before = await world.read('Job', 'nightly-1');

    assert.deepEqual(await changeAndPass(world), ['CronJob/nightly', 'Job/nightly-1']);
    const after = await world.read('Job', 'nightly-1');
    assert.notEqual(after.metadata?.uid, before.metadata?.uid, 'a new Job');
    assert.ok((await world.templateAnnotations('Job', 'nightly-1'))[record], 'reloaded');
    assert.deepEqual(
      after.metadata?.ownerReferences,
      before.metadata?.ownerReferences,
      'the same ownerReferences',
    );
    assert.deepEqual(JSON.parse(JSON.stringify(after.metadata?.ownerReferences)), [owner]);
    assert.deepEqual(await stashes(world), [], 'nothing kept once the Job exists');

    // Owned, it goes with its CronJob (the garbage collector), as the Jobs the CronJob made do.
    await batch.deleteNamespacedCronJob({
      name: 'nightly',
      namespace: world.namespace,
      propagationPolicy: 'Background',
    });
    await eventually('the re-created Job to be garbage-collected with its CronJob', async () =>
      (await readJob(world, 'nightly-1')) ? undefined : true,
    );
  });

  it("Job of a CronJob with concurrencyPolicy Forbid: the re-created Job takes the old one's place in status.active", async (t) => {
    const world = await World.create(t);
    const { owner, old } = await forbiddingCronJob(world);

    assert.deepEqual(await changeAndPass(world), ['CronJob/nightly', 'Job/nightly-1']);
    const job = await world.read('Job', 'nightly-1');
    assert.notEqual(job.metadata?.uid, old.metadata?.uid, 'a new Job');
    assert.deepEqual(JSON.parse(JSON.stringify(job.metadata?.ownerReferences)), [owner]);
    const active = await activeJobs(world);
    assert.deepEqual(
      active.map((r) => r.uid),
      [job.metadata?.uid],
      'the new Job is the active one',
    );
    // As the controller's: the resourceVersion is the one seen then (the Job has moved since).
    assert.ok(active[0]?.resourceVersion, 'a resourceVersion');
    assert.deepEqual(
      { ...JSON.parse(JSON.stringify(active[0])), resourceVersion: undefined },
      { ...reference(job), resourceVersion: undefined },
    );
    assert.deepEqual(await stashes(world), [], 'nothing kept once the Job is tracked');
  });

  it('Job of a Forbid CronJob whose status cannot be written: the Job is re-created, and a later pass lists it as active', async (t) => {
    const world = await World.create(t);
    const { namespace } = world;
    const { old } = await forbiddingCronJob(world);
    await world.pass();
    const allow = await admissionPolicy(t, kc, {
      name: `freeze-cronjob-status-${namespace}`,
      namespace,
      rule: { apiGroups: ['batch'], resources: ['cronjobs/status'], operations: ['UPDATE'] },
      expression: 'false',
      message: 'CronJob status is frozen (test policy)',
      accepted: () =>
        api
          .request({
            method: 'PATCH',
            path: `/apis/batch/v1/namespaces/${namespace}/cronjobs/nightly/status`,
            query: { dryRun: 'All' },
            contentType: 'application/merge-patch+json',
            body: { status: { active: [] } },
          })
          .then(
            () => true,
            () => false,
          ),
    });

    await world.setConfigMap('app', { v: '2' });
    const report = await world.passAllowingFailures();
    const outcome = report.outcomes.find((o) => o.reload.workload.kind === 'Job')?.outcome;
    assert.ok(outcome?.status === 'failed', `the Job's reload failed: ${JSON.stringify(outcome)}`);
    assert.match(outcome.error, /does not list it as active yet: .*frozen \(test policy\)/);
    const job = await world.read('Job', 'nightly-1');
    assert.notEqual(job.metadata?.uid, old.metadata?.uid, 're-created all the same');
    assert.ok((await world.templateAnnotations('Job', 'nightly-1'))[record], 'with the reload');
    assert.equal((await stashes(world)).length, 1, 'kept until its CronJob lists it');

    await allow();
    await world.pass();
    assert.deepEqual(
      (await activeJobs(world)).map((r) => r.uid),
      [job.metadata?.uid],
      'listed by the next pass',
    );
    assert.equal((await world.read('Job', 'nightly-1')).metadata?.uid, job.metadata?.uid);
    assert.deepEqual(await stashes(world), []);
    assert.deepEqual(reloaded(await world.pass()), [], 'and nothing happens twice');
  });

  it('Job whose re-create an admission policy refuses: the failure names the policy, and a later pass creates the Job', async (t) => {
    const world = await World.create(t);
    await world.configMap('app', { v: '1' });
    await batch.createNamespacedJob({
      namespace: world.namespace,
      body: pendingJob('guarded', { labels: guarded }),
    });
    await world.pass();
    const old = await world.read('Job', 'guarded');
    const allow = await denyJobCreates(t, world.namespace);

    await world.setConfigMap('app', { v: '2' });
    const refused = await world.passAllowingFailures();
    assert.equal(refused.outcomes.length, 1);
    const outcome = refused.outcomes[0]?.outcome;
    assert.ok(outcome?.status === 'failed', `the reload failed: ${JSON.stringify(outcome)}`);
    const error = outcome.error;
    assert.match(error, /guarded Jobs may not be created now \(test policy\)/, error);
    assert.doesNotMatch(error, /404|not found/i, 'the real cause, not the read that follows');
    assert.ok(!error.includes(literal), 'no env value in the error');
    assert.equal(await readJob(world, 'guarded'), undefined, 'deleted, and not created');
    assert.equal((await stashes(world)).length, 1, 'kept in a Secret of the lease namespace');

    const still = await world.passAllowingFailures();
    assert.equal(still.outcomes[0]?.outcome.status, 'failed', 'still refused: still kept');
    assert.equal(await readJob(world, 'guarded'), undefined);

    await allow();
    const restored = await world.pass();
    assert.deepEqual(reloaded(restored), ['Job/guarded']);
    const job = await world.read('Job', 'guarded');
    assert.notEqual(job.metadata?.uid, old.metadata?.uid);
    assert.ok((await world.templateAnnotations('Job', 'guarded'))[record], 'with the reload');
    assert.deepEqual(await stashes(world), [], 'the Secret goes once the Job exists');
    assert.deepEqual(reloaded(await world.pass()), [], 'and nothing happens twice');
  });

  it('Job: a process killed between the delete and the create; a fresh one, with no state, creates it', async (t) => {
    const world = await World.create(t);
    await world.configMap('app', { v: '1' });
    // A finalizer holds the deleted Job, so the process waits for its name to be free: then dies.
    await batch.createNamespacedJob({
      namespace: world.namespace,
      body: pendingJob('held', { finalizers: ['test.polling-reloader.io/hold'] }),
    });
    t.after(() => release(world, 'held'));
    const args = (state: string, lease: string) => [
      'run',
      '--once',
      `--kubeconfig=${process.env.TEST_KUBECONFIG ?? ''}`,
      `--lease-namespace=${world.namespace}`,
      `--lease-name=${lease}`,
      `--namespaces=${world.namespace}`,
      `--state=${state}`,
    ];
    const baseline = await cli(args(world.statePath, 'first'));
    assert.equal(baseline.code, 0, baseline.stderr);
    const old = await world.read('Job', 'held');

    await world.setConfigMap('app', { v: '2' });
    const run = startCli(t, args(world.statePath, 'first'));
    await eventually(
      'the pass to delete the Job',
      async () => ((await readJob(world, 'held'))?.metadata?.deletionTimestamp ? true : undefined),
      30_000,
      50,
    );
    run.kill('SIGKILL');
    await run.exited;
    await release(world, 'held');
    await eventually('the old Job to be gone', async () =>
      (await readJob(world, 'held')) ? undefined : true,
    );
    assert.equal((await stashes(world)).length, 1, 'the Job to create is kept in the cluster');

    // Another process, a state never seen (another file), another Lease: only the stash is left.
    const dir = mkdtempSync(join(tmpdir(), 'polling-reloader-fresh-'));
    t.after(() => {
      rmSync(dir, { recursive: true, force: true });
    });
    const fresh = await cli(args(join(dir, 'state.json'), 'second'));
    assert.equal(fresh.code, 0, fresh.stderr);
    const job = await world.read('Job', 'held');
    assert.notEqual(job.metadata?.uid, old.metadata?.uid, 'the Job exists again');
    assert.ok((await world.templateAnnotations('Job', 'held'))[record], 'with the reload');
    assert.deepEqual(await stashes(world), []);
    for (const output of [baseline.stderr, run.output(), fresh.stdout, fresh.stderr]) {
      assert.ok(!output.includes(literal), 'no env value in the logs');
    }
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

/** Removes the test's finalizer from a Job (if it still exists), so that it can go. */
async function release(world: World, name: string): Promise<void> {
  const job = await readJob(world, name);
  if (!job?.metadata?.finalizers?.length) return;
  await batch.patchNamespacedJob({
    name,
    namespace: world.namespace,
    body: [{ op: 'remove', path: '/metadata/finalizers' }],
  });
}

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

/** The ownerReference the CronJob controller puts on the Jobs it starts from CronJob `name`. */
async function controllerOf(world: World, name: string): Promise<V1OwnerReference> {
  const cron = await batch.readNamespacedCronJob({ name, namespace: world.namespace });
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    name,
    uid: cron.metadata?.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** How the CronJob controller refers to a Job in `status.active`. */
function reference(job: WorkloadObject): Record<string, string | undefined> {
  const { name, namespace, uid, resourceVersion } = job.metadata ?? {};
  return { kind: 'Job', namespace, name, uid, apiVersion: 'batch/v1', resourceVersion };
}

/**
 * CronJob `nightly` with `concurrencyPolicy: Forbid` and its unfinished Job `nightly-1`, listed in
 * its `status.active` as its controller lists a Job it started.
 */
async function forbiddingCronJob(
  world: World,
): Promise<{ owner: V1OwnerReference; old: WorkloadObject }> {
  const { namespace } = world;
  await world.configMap('app', { v: '1' });
  const { metadata, spec: body } = withTemplate('nightly', spec);
  await batch.createNamespacedCronJob({
    namespace,
    body: {
      metadata,
      spec: {
        schedule: '0 3 1 1 *',
        concurrencyPolicy: 'Forbid',
        jobTemplate: { spec: { template: body.template } },
      },
    },
  });
  const owner = await controllerOf(world, 'nightly');
  await batch.createNamespacedJob({
    namespace,
    body: pendingJob('nightly-1', { ownerReferences: [owner] }),
  });
  const old = await world.read('Job', 'nightly-1');
  await api.request({
    method: 'PATCH',
    path: `/apis/batch/v1/namespaces/${namespace}/cronjobs/nightly/status`,
    contentType: 'application/merge-patch+json',
    body: { status: { active: [reference(old)] } },
  });
  assert.deepEqual(
    (await activeJobs(world)).map((r) => r.uid),
    [old.metadata?.uid],
  );
  return { owner, old };
}

/** CronJob `nightly`'s `status.active`. */
async function activeJobs(world: World): Promise<V1ObjectReference[]> {
  const cron = await batch.readNamespacedCronJob({ name: 'nightly', namespace: world.namespace });
  return cron.status?.active ?? [];
}
