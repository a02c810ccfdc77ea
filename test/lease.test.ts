// SPEC §6 and the long-running mode: one instance acts at a time, a dead holder is replaced after
// its Lease expires and not before, and SIGTERM stops cleanly and releases the Lease.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { CoordinationV1Api, V1MicroTime } from '@kubernetes/client-node';
import { LeaseLock } from '../src/lease.js';
import { cli, startCli } from './cli.js';
import { api, autoWorld, container, kc, World } from './harness.js';
import { eventually, testNamespace } from './kube.js';

const kubeconfig = process.env.TEST_KUBECONFIG ?? '';
const leases = kc.makeApiClient(CoordinationV1Api);
const auto = { 'reloader.stakater.com/auto': 'true' };

function runArgs(world: World, ...extra: string[]): string[] {
  return [
    'run',
    `--kubeconfig=${kubeconfig}`,
    `--namespaces=${world.namespace}`,
    `--lease-namespace=${world.namespace}`,
    ...extra,
  ];
}

/** Starts a long-running instance; the test kills it by its id when it ends. */
const start = startCli;

async function holder(namespace: string, name = 'polling-reloader'): Promise<string | undefined> {
  try {
    return (
      (await leases.readNamespacedLease({ name, namespace })).spec?.holderIdentity || undefined
    );
  } catch {
    return undefined;
  }
}

async function generation(world: World): Promise<number> {
  return (await world.read('Deployment', 'web')).metadata?.generation ?? 0;
}

describe('Lease and long-running mode (SPEC §6)', () => {
  it('run --once does nothing while another live instance holds the Lease', async (t) => {
    const world = await autoWorld(t);
    await world.pass();
    await world.setConfigMap('app', { v: '2' });
    const now = new V1MicroTime(Date.now());
    await leases.createNamespacedLease({
      namespace: world.namespace,
      body: {
        metadata: { name: 'polling-reloader' },
        spec: {
          holderIdentity: 'someone-else',
          leaseDurationSeconds: 60,
          acquireTime: now,
          renewTime: now,
        },
      },
    });
    const before = await world.template('Deployment', 'web');
    const result = await cli([...runArgs(world, '--once', `--state=${world.statePath}`)]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /held by someone-else/);
    assert.equal(
      await world.template('Deployment', 'web'),
      before,
      'the change waits for the holder',
    );
    assert.equal(await holder(world.namespace), 'someone-else');
  });

  it('a holder whose clock runs an hour ahead blocks others only for its duration', async (t) => {
    const world = await autoWorld(t);
    await world.pass();
    await world.setConfigMap('app', { v: '2' });
    const ahead = new V1MicroTime(Date.now() + 3_600_000);
    await leases.createNamespacedLease({
      namespace: world.namespace,
      body: {
        metadata: { name: 'polling-reloader' },
        spec: {
          holderIdentity: 'clock-ahead',
          leaseDurationSeconds: 3,
          acquireTime: ahead,
          renewTime: ahead,
        },
      },
    });
    const before = await world.template('Deployment', 'web');
    const started = Date.now();
    const result = await cli([...runArgs(world, '--once', `--state=${world.statePath}`)]);
    assert.equal(result.code, 0, result.stderr);
    assert.notEqual(await world.template('Deployment', 'web'), before, result.stderr);
    assert.ok(Date.now() - started < 60_000, 'it waited for the holder clock');
  });

  it('two instances started together: one acts per pass, every change is applied once', async (t) => {
    const world = await autoWorld(t);
    const common = ['--interval=500ms', '--lease-duration=5s'];
    start(t, runArgs(world, ...common, `--state=${world.statePath}.a`));
    start(t, runArgs(world, ...common, `--state=${world.statePath}.b`));
    await eventually('a Lease holder', () => holder(world.namespace));
    await new Promise((resolve) => setTimeout(resolve, 2000)); // both have recorded their baseline
    const first = await generation(world);
    for (let change = 1; change <= 3; change++) {
      await world.setConfigMap('app', { v: `${change + 1}` });
      await eventually(
        `change ${change} applied`,
        async () => ((await generation(world)) === first + change ? true : undefined),
        30_000,
      );
      await new Promise((resolve) => setTimeout(resolve, 1500)); // time for a second, wrong reload
      assert.equal(await generation(world), first + change, `change ${change} rolled exactly once`);
    }
  });

  it('a killed holder is replaced after its Lease expires, not before; SIGTERM releases the Lease', async (t) => {
    const world = await autoWorld(t);
    const a = start(
      t,
      runArgs(world, '--interval=500ms', '--lease-duration=4s', `--state=${world.statePath}`),
    );
    const identity = await eventually('instance a to hold the Lease', () =>
      holder(world.namespace),
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    a.kill('SIGKILL');
    const killedAt = Date.now();
    await new Promise((resolve) => a.once('exit', resolve));
    const last = (
      await leases.readNamespacedLease({ name: 'polling-reloader', namespace: world.namespace })
    ).spec;
    const expiresAt = new Date(last?.renewTime ?? 0).getTime() + 4000;
    await world.setConfigMap('app', { v: '2' });
    const before = await world.template('Deployment', 'web');
    const b = start(
      t,
      runArgs(world, '--interval=250ms', '--lease-duration=4s', `--state=${world.statePath}`),
    );
    await eventually(
      'instance b to take over',
      async () => ((await holder(world.namespace)) !== identity ? true : undefined),
      20_000,
    );
    const takeover = Date.now() - killedAt;
    const renewed = (
      await leases.readNamespacedLease({ name: 'polling-reloader', namespace: world.namespace })
    ).spec;
    const acquiredAt = new Date(renewed?.acquireTime ?? 0).getTime();
    assert.ok(
      acquiredAt >= expiresAt,
      `taken at ${new Date(acquiredAt).toISOString()}, expiry ${new Date(expiresAt).toISOString()}`,
    );
    assert.equal(renewed?.leaseTransitions, 1);
    await eventually('the pending change applied by b', async () =>
      (await world.template('Deployment', 'web')) !== before ? true : undefined,
    );
    process.stdout.write(
      `# takeover after SIGKILL of the holder: ${takeover} ms (Lease duration 4 s)\n`,
    );

    const stopping = Date.now();
    b.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) =>
      b.once('exit', (c) => {
        resolve(c);
      }),
    );
    const shutdown = Date.now() - stopping;
    assert.equal(code, 0, b.output());
    assert.ok(shutdown < 10_000, `shut down in ${shutdown} ms`);
    assert.equal(await holder(world.namespace), undefined, 'the Lease is released');
    process.stdout.write(`# shutdown after SIGTERM: ${shutdown} ms\n`);
  });

  it('SIGKILL in the middle of a pass: the next run applies every pending change exactly once', async (t) => {
    const world = await World.create(t);
    await world.configMap('app', { v: '1' });
    const names = Array.from({ length: 24 }, (_, i) => `web-${i}`);
    for (const name of names) {
      await world.deployment(name, {
        annotations: auto,
        podSpec: { containers: [container('app', { configMaps: ['app'] })] },
      });
    }
    const args = runArgs(world, '--once', '--lease-duration=2s', `--state=${world.statePath}`);
    assert.equal((await cli(args)).code, 0);
    const generations = async () =>
      Promise.all(
        names.map(async (n) => (await world.read('Deployment', n)).metadata?.generation ?? 0),
      );
    const initial = await generations();
    await world.setConfigMap('app', { v: '2' });

    const victim = start(t, args);
    await eventually(
      'the first patches',
      async () => ((await generations()).some((g, i) => g > (initial[i] ?? 0)) ? true : undefined),
      30_000,
      20,
    );
    victim.kill('SIGKILL');
    await victim.exited; // resolves even when the run ended before the signal
    const partial = (await generations()).filter((g, i) => g > (initial[i] ?? 0)).length;
    process.stdout.write(`# killed after ${partial} of ${names.length} patches\n`);

    await eventually('the Lease of the killed run to expire', async () =>
      (await cli(args)).stderr.includes('held by') ? undefined : true,
    );
    const after = await generations();
    after.forEach((g, i) => {
      assert.equal(g, (initial[i] ?? 0) + 1, `${names[i] ?? ''} rolled exactly once`);
    });
    assert.equal((await cli(args)).code, 0);
    assert.deepEqual(await generations(), after, 'a further run repeats nothing');
  });

  it('--schedule: a change made while no instance ran is applied by the next one', async (t) => {
    const world = await autoWorld(t);
    const args = runArgs(world, '--schedule=* * * * * *', `--state=${world.statePath}`);
    const first = start(t, args);
    await eventually('a baseline in the state', async () =>
      (await holder(world.namespace)) ? true : undefined,
    );
    await eventually('the state saved', async () =>
      (await world.pass('--dry-run')).baseline ? undefined : true,
    );
    first.kill('SIGTERM');
    assert.equal(await new Promise((resolve) => first.once('exit', resolve)), 0);
    const before = await world.template('Deployment', 'web');
    await world.setConfigMap('app', { v: '2' }); // nobody runs now
    start(t, args);
    await eventually('the change applied on the schedule', async () =>
      (await world.template('Deployment', 'web')) !== before ? true : undefined,
    );
  });

  it('a renewal racing the release never leaves the Lease held (20 interleavings)', async (t) => {
    const namespace = await testNamespace(t, kc, 'l');
    const lock = (identity: string) =>
      new LeaseLock(api, { name: 'race', namespace, durationSeconds: 30, identity });
    const a = lock('a');
    const b = lock('b');
    for (let round = 0; round < 20; round++) {
      assert.deepEqual(await a.acquire(), { held: true }, `round ${round}: a takes the Lease`);
      // As a renewal timer firing while `run --once` ends: both requests go out together.
      await Promise.all([a.acquire(), a.release()]);
      assert.equal(await holder(namespace, 'race'), undefined, `round ${round}: still held`);
      assert.deepEqual(await b.acquire(), { held: true }, `round ${round}: b must wait`);
      await b.release();
    }
  });

  it('a renewal concurrent with the pass taking the Lease never sees itself as another holder', async (t) => {
    const namespace = await testNamespace(t, kc, 'l');
    // Every claim at a time of its own, as a renewal and a pass a few ms apart would write.
    let last = 0;
    const clock = () => new Date((last = Math.max(Date.now(), last + 1)));
    const options = { name: 'race', namespace, durationSeconds: 30, identity: 'a' };
    const a = new LeaseLock(api, options, clock);
    assert.deepEqual(await a.acquire(), { held: true });
    for (let round = 0; round < 20; round++) {
      const [renewal, take] = await Promise.all([a.acquire(), a.acquire()]);
      assert.deepEqual([renewal, take], [{ held: true }, { held: true }], `round ${round}`);
      assert.ok(a.holds(), `round ${round}: a trusts its Lease`);
    }
    assert.equal(await holder(namespace, 'race'), 'a');
  });

  it('--health-port serves /live and /ready in the long-running mode', async (t) => {
    const world = await autoWorld(t);
    const port = await freePort();
    const child = start(
      t,
      runArgs(world, '--interval=1s', `--health-port=${port}`, `--state=${world.statePath}`),
    );
    const status = async (path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).status;
    await eventually('/ready to answer 200', async () =>
      (await status('/ready').catch(() => 0)) === 200 ? true : undefined,
    );
    assert.equal(await status('/live'), 200);
    assert.equal(await status('/other'), 404);
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    await assert.rejects(fetch(`http://127.0.0.1:${port}/live`), 'closed with the process');
  });

  it('/live fails while a pass is stuck past --pass-timeout, and answers 200 again once it ends', async (t) => {
    const world = await autoWorld(t);
    // The state on a FIFO: reading it waits until the test writes, as a state volume that hangs
    // would; no API call is involved, so the pass's own deadline cannot end the wait.
    const fifo = `${world.statePath}.fifo`;
    execFileSync('mkfifo', [fifo]);
    const port = await freePort();
    const child = start(
      t,
      runArgs(
        world,
        '--interval=1s',
        '--pass-timeout=1s',
        `--health-port=${port}`,
        `--state=${fifo}`,
      ),
    );
    const status = async (path: string) =>
      (await fetch(`http://127.0.0.1:${port}${path}`).catch(() => undefined))?.status;
    assert.equal(
      await eventually('/live to answer', () => status('/live')),
      200,
      'live before the pass is due',
    );
    await eventually(
      '/live to fail while the pass is stuck',
      async () => ((await status('/live')) === 503 ? true : undefined),
      60_000,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${child.output()}`);
    });
    assert.equal(await status('/ready'), 503, 'no pass has finished');

    await writeFile(fifo, 'null'); // the read ends: no state yet
    await rm(fifo);
    await eventually('a pass to finish', async () =>
      (await status('/ready')) === 200 ? true : undefined,
    );
    await eventually('/live to answer 200 again', async () =>
      (await status('/live')) === 200 ? true : undefined,
    );
    child.kill('SIGTERM');
    assert.equal(await child.exited, 0, child.output());
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
