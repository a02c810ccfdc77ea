// Faults between the program and the API server, through a loopback proxy that injects them into
// the real traffic: nothing lost, nothing twice, and a former Lease holder that resumes writes
// nothing.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it, type TestContext } from 'node:test';
import { Api } from '../src/api.js';
import { openStateStore } from '../src/configmap-state.js';
import { loadConnection } from '../src/kubeconfig.js';
import { parseRunFlags, passOptions } from '../src/options.js';
import { runPass } from '../src/pass.js';
import { cli, startCli } from './cli.js';
import { container, World } from './harness.js';
import { eventually } from './kube.js';
import { FaultProxy, serverOf, type Fault } from './proxy.js';

const admin = process.env.TEST_KUBECONFIG ?? '';
const auto = { 'reloader.stakater.com/auto': 'true' };
const record = 'polling-reloader.io/reloaded-hashes';

async function startProxy(t: TestContext): Promise<{ proxy: FaultProxy; kubeconfig: string }> {
  const proxy = await FaultProxy.start(serverOf(admin));
  const dir = mkdtempSync(join(tmpdir(), 'polling-reloader-proxy-'));
  t.after(async () => {
    await proxy.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { proxy, kubeconfig: proxy.kubeconfig(admin, dir) };
}

/** Deployments `web-0…` that each use ConfigMap `shared` and their own `own-i`. */
async function fleet(world: World, count: number): Promise<string[]> {
  await world.configMap('shared', { v: '0' });
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    await world.configMap(`own-${i}`, { v: '0' });
    await world.deployment(`web-${i}`, {
      annotations: auto,
      podSpec: { containers: [container('app', { configMaps: ['shared', `own-${i}`] })] },
    });
    names.push(`web-${i}`);
  }
  return names;
}

async function generations(world: World, names: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const name of names) {
    out.set(name, (await world.read('Deployment', name)).metadata?.generation ?? 0);
  }
  return out;
}

/** Waits, polling often, until one of the Deployments carries a reload record. */
async function firstPatched(world: World, names: string[]): Promise<void> {
  await eventually(
    'the first Deployment patched',
    async () => {
      for (const name of names) {
        if ((await world.templateAnnotations('Deployment', name))[record]) return true;
      }
      return undefined;
    },
    60_000,
    20,
  );
}

function randomFault(random: () => number): Fault {
  const r = random();
  if (r < 0.08) return 'reset';
  if (r < 0.12) return 'cut';
  if (r < 0.14) return 'stall';
  return 'pass';
}

/** A small deterministic generator, so that a failing run can be repeated. */
function seeded(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

describe('faults between the program and the API server', () => {
  it('run --once against a server that never answers ends with one line', async (t) => {
    const world = await World.create(t);
    const { proxy, kubeconfig } = await startProxy(t);
    proxy.choose = () => 'blackhole';
    const started = Date.now();
    const run = startCli(t, ['run', '--once', `--kubeconfig=${kubeconfig}`, ...world.baseArgs()]);
    const code = await run.exited;
    const lines = run.output().trim().split('\n');
    assert.equal(code, 1);
    assert.equal(lines.length, 1, run.output());
    assert.match(
      lines[0] ?? '',
      /^polling-reloader: error: cannot reach the cluster at .*no answer/,
    );
    assert.ok(Date.now() - started < 60_000, 'it waited for minutes');
  });

  it('an answer that keeps trickling in is abandoned at the deadline, not when it ends', async (t) => {
    const world = await World.create(t);
    // Some 150 kB that gzip cannot shrink much, at 10 kB/s: over 10 s, in TLS records that each
    // arrive well within the time-out.
    await world.configMap('big', { v: randomBytes(110_000).toString('base64') });
    const { proxy, kubeconfig } = await startProxy(t);
    const api = new Api(loadConnection({ kubeconfig }));
    t.after(() => {
      api.close();
    });
    await api.request({ path: '/version' }); // the connection, kept alive, set up at full speed
    proxy.trickle = { bytes: 512, everyMs: 50 };
    proxy.choose = () => 'trickle';
    const started = Date.now();
    api.deadline = started + 3000;
    await assert.rejects(
      api.request({ path: `/api/v1/namespaces/${world.namespace}/configmaps` }),
      (err: Error) => err.name === 'DeadlineExceeded',
    );
    const took = Date.now() - started;
    assert.equal(proxy.counts.trickle, 1, 'the answer trickled');
    assert.ok(took < 8000, `abandoned after ${took} ms, deadline 3000 ms`);
  });

  it('a pass cut off by a black hole ends by its deadline, SIGTERM ends the process, the change is applied later', async (t) => {
    const world = await World.create(t);
    await fleet(world, 1);
    await world.pass(); // the baseline
    const { proxy, kubeconfig } = await startProxy(t);
    const args = [
      'run',
      `--kubeconfig=${kubeconfig}`,
      `--state=${world.statePath}`,
      `--namespaces=${world.namespace}`,
      `--lease-namespace=${world.namespace}`,
      '--interval=1s',
      '--pass-timeout=3s',
      '--lease-duration=3s',
      '--log-format=json',
    ];
    const first = startCli(t, args);
    const said = (pattern: RegExp) => (): Promise<true | undefined> =>
      Promise.resolve(pattern.test(first.output()) ? true : undefined);
    await eventually('a first pass', said(/pass done/));
    proxy.choose = () => 'blackhole';
    await world.setConfigMap('shared', { v: '2' });
    await eventually(
      'a pass to fail by its deadline',
      said(/pass failed.*(deadline|no answer)/),
      30_000,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${first.output()}`);
    });
    const before = await world.template('Deployment', 'web-0');
    first.kill('SIGTERM');
    assert.notEqual(await first.exited, undefined);
    assert.equal(await world.template('Deployment', 'web-0'), before);

    proxy.choose = () => 'pass';
    await sleep(3000); // the Lease it could not release expires
    const second = startCli(t, [
      'run',
      '--once',
      `--kubeconfig=${kubeconfig}`,
      ...args.slice(2, 5),
    ]);
    assert.equal(await second.exited, 0, second.output());
    assert.notEqual(await world.template('Deployment', 'web-0'), before);
  });

  it('random resets, cut answers and stalls lose no change and roll nothing twice', async (t) => {
    const world = await World.create(t);
    const names = await fleet(world, 5);
    const { proxy, kubeconfig } = await startProxy(t);
    // Short time-outs, so that a stalled answer costs a second, not the default half minute.
    const api = new Api(loadConnection({ kubeconfig }), {
      timeoutMs: 1000,
      attempts: 4,
      baseDelayMs: 50,
    });
    t.after(() => {
      api.close();
    });
    const flags = parseRunFlags([...world.baseArgs(), `--namespaces=${world.namespace}`]);
    const pass = async (): Promise<void> => {
      const store = await openStateStore(api, flags.state);
      await runPass({ api, store, now: () => new Date() }, passOptions(flags)).catch(
        () => undefined, // a pass that fails is repeated by the next
      );
    };
    await world.pass(); // the baseline, without faults
    const before = await generations(world, names);
    const changed = new Map(names.map((n) => [n, 0]));
    const random = seeded(20261125);
    proxy.choose = () => randomFault(random);
    for (let round = 1; round <= 8; round++) {
      const i = Math.floor(random() * names.length);
      const shared = round % 4 === 0;
      await world.setConfigMap(shared ? 'shared' : `own-${i}`, { v: String(round) });
      for (const n of names) {
        if (shared || n === `web-${i}`) changed.set(n, (changed.get(n) ?? 0) + 1);
      }
      await pass();
    }
    proxy.choose = () => 'pass';
    await pass();
    await pass();
    const faults = proxy.counts.reset + proxy.counts.cut + proxy.counts.stall;
    assert.ok(faults > 0, `the proxy injected no fault: ${JSON.stringify(proxy.counts)}`);

    const after = await generations(world, names);
    for (const name of names) {
      const rolls = (after.get(name) ?? 0) - (before.get(name) ?? 0);
      const changes = changed.get(name) ?? 0;
      assert.ok(rolls <= changes, `${name} rolled ${rolls} times for ${changes} changes`);
      if (changes > 0) assert.ok(rolls > 0, `${name}: its ${changes} changes were lost`);
    }
    // Nothing pending: one more pass without faults rolls nothing.
    const settled = await world.pass();
    assert.deepEqual(settled.outcomes, []);
    assert.deepEqual(await generations(world, names), after);
  });

  it('a former holder that resumes after losing the Lease writes nothing', async (t) => {
    const world = await World.create(t);
    const names = await fleet(world, 8);
    await world.pass(); // the baseline
    const { proxy, kubeconfig } = await startProxy(t);
    proxy.delayMs = 120; // slow enough to stop the holder in the middle of its patches
    await world.setConfigMap('shared', { v: '2' });
    const args = [
      'run',
      '--once',
      `--state=${world.statePath}`,
      `--namespaces=${world.namespace}`,
      `--lease-namespace=${world.namespace}`,
      '--lease-duration=2s',
    ];
    const first = startCli(t, [...args, `--kubeconfig=${kubeconfig}`]);
    await firstPatched(world, names);
    first.kill('SIGSTOP');
    t.after(() => first.kill('SIGCONT'));
    await sleep(3000); // its Lease expires

    await world.setConfigMap('shared', { v: '3' });
    const second = startCli(t, [...args, `--kubeconfig=${admin}`]);
    assert.equal(await second.exited, 0, second.output());
    const templates = await Promise.all(names.map((n) => world.template('Deployment', n)));
    const state = readFileSync(world.statePath, 'utf8');

    first.kill('SIGCONT');
    await first.exited;
    assert.deepEqual(
      await Promise.all(names.map((n) => world.template('Deployment', n))),
      templates,
      `the former holder changed a Deployment after it resumed:\n${first.output()}`,
    );
    assert.equal(readFileSync(world.statePath, 'utf8'), state, 'it wrote the state');
    // Every Deployment runs the newest config, and nothing is left to do.
    const settled = await world.pass();
    assert.deepEqual(settled.outcomes, []);
  });

  it('SIGTERM in the middle of a pass: skipped reloads are not counted as done, and the next run applies them once', async (t) => {
    const world = await World.create(t);
    const names = await fleet(world, 20);
    await world.pass(); // the baseline
    const before = await generations(world, names);
    const { proxy, kubeconfig } = await startProxy(t);
    proxy.delayMs = 150; // slow enough to stop the pass in the middle of its patches
    await world.setConfigMap('shared', { v: '2' });
    const args = [
      `--state=${world.statePath}`,
      `--namespaces=${world.namespace}`,
      `--lease-namespace=${world.namespace}`,
    ];
    const run = startCli(t, [
      'run',
      ...args,
      `--kubeconfig=${kubeconfig}`,
      '--interval=1h',
      '--log-format=json',
    ]);
    await firstPatched(world, names);
    run.kill('SIGTERM');
    assert.equal(await run.exited, 0, run.output());

    const lines = run
      .output()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { level: number; msg: string });
    const after = await generations(world, names);
    const rolled = names.filter((n) => (after.get(n) ?? 0) > (before.get(n) ?? 0)).length;
    assert.ok(rolled < names.length, `the pass finished before SIGTERM stopped it (${rolled})`);
    const summary = lines.find((l) => l.msg.startsWith('pass done:'))?.msg ?? '';
    assert.match(summary, new RegExp(`, ${rolled} reloads`), run.output());
    assert.deepEqual(
      lines.filter((l) => l.level >= 50).map((l) => l.msg),
      [],
      'a reload skipped by the shutdown is no error',
    );

    const next = await cli(['run', '--once', ...args, `--kubeconfig=${admin}`]);
    assert.equal(next.code, 0, next.stderr);
    const settled = await generations(world, names);
    for (const name of names) {
      assert.equal(settled.get(name), (before.get(name) ?? 0) + 1, `${name} rolled exactly once`);
    }
  });
});
