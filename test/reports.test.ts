// SPEC §8, what a pass reports, run as a user runs it: /metrics in the long-running mode, a
// Pushgateway push in the one-shot mode, Kubernetes Events on the workloads, and one alert per
// pass to each of Reloader's sinks. The sinks and the Pushgateway are loopback HTTP servers.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { CoordinationV1Api, EventsV1Api, V1MicroTime } from '@kubernetes/client-node';
import { sample } from '../src/reports/fixtures.test-helper.js';
import { cli, startCli } from './cli.js';
import { autoWorld, container, denyUpdates, kc, World } from './harness.js';
import { eventually } from './kube.js';

const kubeconfig = process.env.TEST_KUBECONFIG ?? '';
const auto = { 'reloader.stakater.com/auto': 'true' };
const eventsApi = kc.makeApiClient(EventsV1Api);

interface Received {
  method: string;
  url: string;
  contentType: string;
  body: string;
  /** When the request arrived, and when its connection closed (0: still open). */
  at: number;
  closedAt: number;
}

/** A loopback HTTP server that records every request and answers with `respond`. */
async function recorder(
  t: TestContext,
  respond: (res: ServerResponse) => void = (res) => res.writeHead(200).end('ok'),
): Promise<{ url: string; port: number; received: Received[] }> {
  const received: Received[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    const entry: Received = {
      method: req.method ?? '',
      url: req.url ?? '',
      contentType: req.headers['content-type'] ?? '',
      body: '',
      at: 0,
      closedAt: 0,
    };
    req.socket.once('close', () => (entry.closedAt = Date.now()));
    req.on('data', (c: Buffer) => (entry.body += c.toString()));
    req.on('end', () => {
      entry.at = Date.now();
      received.push(entry);
      respond(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, port, received };
}

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A world whose baseline is recorded, with `names` auto-reloading on ConfigMap `app`. */
async function recorded(t: TestContext, ...names: string[]): Promise<World> {
  const world = await World.create(t);
  await world.configMap('app', { v: '1' });
  for (const name of names) {
    await world.deployment(name, {
      annotations: auto,
      podSpec: { containers: [container('app', { configMaps: ['app'] })] },
    });
  }
  await world.pass();
  return world;
}

function onceArgs(world: World, ...extra: string[]): string[] {
  return [
    'run',
    ...world.baseArgs(),
    `--namespaces=${world.namespace}`,
    `--kubeconfig=${kubeconfig}`,
    ...extra,
  ];
}

/** polling-reloader's Events in the namespace, as `reason kind/name`, and the Events themselves. */
async function ownEvents(namespace: string) {
  const list = await eventsApi.listNamespacedEvent({ namespace });
  return list.items.filter((e) => e.reportingController === 'polling-reloader');
}

describe('reports (SPEC §8)', () => {
  it('long-running mode: after one reload, /metrics shows the counters, /live answers beside it', async (t) => {
    const world = await autoWorld(t);
    const port = await freePort();
    const started = Date.now() / 1000;
    startCli(
      t,
      [
        'run',
        `--kubeconfig=${kubeconfig}`,
        `--namespaces=${world.namespace}`,
        `--lease-namespace=${world.namespace}`,
        `--state=${world.statePath}`,
        '--interval=1s',
        `--metrics-address=127.0.0.1:${port}`,
      ],
      { METRICS_COUNT_BY_NAMESPACE: 'enabled' },
    );
    const scrape = async (): Promise<string> =>
      (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    await eventually('a first pass, the baseline', async () =>
      (sample(await scrape(), 'polling_reloader_passes_total', { result: 'success' }) ?? 0) >= 1
        ? true
        : undefined,
    );
    const before = await world.template('Deployment', 'web');
    await world.setConfigMap('app', { v: '2' });
    // The Event is written, and counted, after the pass is: the scrape waits for both.
    const text = await eventually('the reload and its Event counted', async () => {
      const now = await scrape();
      const reloads = sample(now, 'reloader_reload_executed_total', { success: 'true' });
      const events = sample(now, 'polling_reloader_events_total', { result: 'written' });
      return reloads === 1 && events === 1 ? now : undefined;
    });
    assert.notEqual(await world.template('Deployment', 'web'), before, 'the Deployment rolled');
    const ns = world.namespace;
    const expected: [string, Record<string, string>, number][] = [
      ['reloader_reload_executed_total', { success: 'false' }, 0],
      ['reloader_reload_executed_total_by_namespace', { success: 'true', namespace: ns }, 1],
      ['reloader_action_total', { workload_kind: 'Deployment', result: 'success' }, 1],
      ['reloader_workloads_matched_total', { kind: 'Deployment' }, 1],
      [
        'polling_reloader_reloads_total',
        { namespace: ns, workload_kind: 'Deployment', outcome: 'patched' },
        1,
      ],
      ['polling_reloader_changes_total', { kind: 'ConfigMap', type: 'updated' }, 1],
      ['polling_reloader_pending_changes', {}, 0],
      ['polling_reloader_workloads', {}, 1],
      ['polling_reloader_passes_total', { result: 'failed' }, 0],
      ['polling_reloader_lease_held', {}, 1],
      ['polling_reloader_events_total', { result: 'failed' }, 0],
    ];
    for (const [name, labels, value] of expected)
      assert.equal(sample(text, name, labels), value, `${name}${JSON.stringify(labels)}`);
    assert.ok((sample(text, 'polling_reloader_sources') ?? 0) >= 1);
    assert.ok((sample(text, 'polling_reloader_api_requests_total') ?? 0) > 0);
    assert.ok((sample(text, 'polling_reloader_last_pass_api_read_bytes') ?? 0) > 0);
    assert.ok(
      (sample(text, 'polling_reloader_pass_duration_seconds_count', { result: 'success' }) ?? 0) >=
        2,
    );
    assert.ok(
      (sample(text, 'polling_reloader_last_success_timestamp_seconds') ?? 0) > started,
      'the last success is of this run',
    );
    assert.ok(sample(text, 'process_resident_memory_bytes') !== undefined, 'process metrics');
    assert.equal((await fetch(`http://127.0.0.1:${port}/live`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${port}/ready`)).status, 200);
  });

  it('Events: Normal Reloaded on the reloaded workload, Warning ReloadFail on the refused one; none in --dry-run', async (t) => {
    const world = await recorded(t, 'free', 'blocked');
    const unblock = await denyUpdates(t, world.namespace, 'blocked');
    t.after(unblock);
    await world.setConfigMap('app', { v: '2' });
    const run = await cli(onceArgs(world));
    assert.equal(run.code, 3, `a failed reload: exit 3\n${run.stderr}`);

    const events = await ownEvents(world.namespace);
    const summary = events.map(
      (e) => `${e.type ?? ''} ${e.reason ?? ''} ${e.regarding?.name ?? ''}`,
    );
    assert.deepEqual(summary.sort(), ['Normal Reloaded free', 'Warning ReloadFail blocked']);
    const reloadedEvent = events.find((e) => e.reason === 'Reloaded');
    assert.ok(reloadedEvent);
    const free = await world.read('Deployment', 'free');
    assert.equal(reloadedEvent.regarding?.uid, free.metadata?.uid, 'on the Deployment itself');
    assert.equal(reloadedEvent.regarding?.kind, 'Deployment');
    assert.equal(reloadedEvent.related?.name, 'app');
    assert.match(
      reloadedEvent.note ?? '',
      /Changes detected in 'app' of type 'CONFIGMAP'.*because ConfigMap\/app: its content changed; rule: auto annotation/,
    );
    const failEvent = events.find((e) => e.reason === 'ReloadFail');
    assert.match(failEvent?.note ?? '', /failed with error .*updates refused for the test/);

    await world.setConfigMap('app', { v: '3' });
    const dry = await cli(onceArgs(world, '--dry-run'));
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal((await ownEvents(world.namespace)).length, 2, 'no Event in --dry-run');
  });

  it('alerts: one message per pass to each sink, in its shape, naming every reloaded workload', async (t) => {
    const world = await recorded(t, 'web-a', 'web-b');
    const sink = await recorder(t);
    const sinks = ['slack', 'teams', 'gchat', 'raw'] as const;
    for (const [i, name] of sinks.entries()) {
      await world.setConfigMap('app', { v: String(i + 2) });
      // Google Chat's alert goes through ALERT_WEBHOOK_PROXY: the recorder plays the proxy.
      const proxied = name === 'gchat';
      const result = await cli(onceArgs(world), {
        ALERT_ON_RELOAD: 'true',
        ALERT_SINK: name,
        ALERT_WEBHOOK_URL: `${proxied ? 'http://hooks.invalid' : sink.url}/hook/${name}`,
        ...(proxied && { ALERT_WEBHOOK_PROXY: sink.url }),
        ALERT_ADDITIONAL_INFO: 'test-cluster',
      });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(sink.received.length, i + 1, `${name}: one request for the pass`);
    }
    const [slack, teams, gchat, raw] = sink.received;
    const line = (w: string) =>
      `Reloader detected changes in *app* of type *CONFIGMAP* in namespace *${world.namespace}*. ` +
      `Hence reloaded *${w}* of type *Deployment* in namespace *${world.namespace}*`;
    const both = (separator: string) =>
      `test-cluster : ${[line('web-a'), line('web-b')].join(separator)}`;

    assert.equal(slack?.url, '/hook/slack');
    assert.equal(slack.contentType, 'application/json');
    assert.deepEqual(JSON.parse(slack.body), {
      attachments: [{ color: 'good', author_name: 'Reloader', text: both('\n') }],
    });
    assert.equal(teams?.url, '/hook/teams');
    assert.deepEqual(JSON.parse(teams.body), { text: both('\n\n') });
    assert.equal(gchat?.url, 'http://hooks.invalid/hook/gchat', 'absolute-form: through the proxy');
    assert.deepEqual(JSON.parse(gchat.body), { text: both('\n') });
    assert.equal(raw?.url, '/hook/raw');
    assert.match(raw.contentType, /^text\/plain/);
    assert.equal(raw.body, both('\n').replaceAll('*', ''));

    const quiet = await cli(onceArgs(world), {
      ALERT_ON_RELOAD: 'true',
      ALERT_WEBHOOK_URL: `${sink.url}/hook/raw`,
    });
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(sink.received.length, 4, 'a pass that reloads nothing sends nothing');
  });

  it('a sink that hangs holds the one-shot run no longer than --report-timeout', async (t) => {
    const world = await recorded(t, 'web');
    const hanging = await recorder(t, () => undefined);
    const before = await world.template('Deployment', 'web');
    await world.setConfigMap('app', { v: '2' });
    const result = await cli(onceArgs(world, '--report-timeout=2s'), {
      ALERT_ON_RELOAD: 'true',
      ALERT_SINK: 'slack',
      ALERT_WEBHOOK_URL: `${hanging.url}/hook`,
    });
    const ended = Date.now();
    assert.equal(result.code, 0, result.stderr);
    assert.notEqual(await world.template('Deployment', 'web'), before, 'the reload is done');
    const request = hanging.received[0];
    assert.ok(request, 'the alert was sent');
    assert.ok(request.closedAt > 0, 'the client gave up on it');
    const held = request.closedAt - request.at;
    assert.ok(held >= 1500 && held < 3500, `held ${held} ms for a time-out of 2 s`);
    assert.ok(ended - request.at < 5000, `the run ended ${ended - request.at} ms after the alert`);
  });

  it('long-running mode: a hanging sink does not hold the next pass back', async (t) => {
    const world = await recorded(t, 'web');
    const hanging = await recorder(t, () => undefined);
    startCli(
      t,
      [
        'run',
        `--kubeconfig=${kubeconfig}`,
        `--namespaces=${world.namespace}`,
        `--lease-namespace=${world.namespace}`,
        `--state=${world.statePath}`,
        '--interval=1s',
        '--report-timeout=30s',
      ],
      { ALERT_ON_RELOAD: 'true', ALERT_WEBHOOK_URL: `${hanging.url}/hook` },
    );
    const rolled = async (from: string) =>
      eventually('the change applied', async () =>
        (await world.template('Deployment', 'web')) !== from ? true : undefined,
      );
    const first = await world.template('Deployment', 'web');
    await world.setConfigMap('app', { v: '2' });
    await rolled(first);
    await eventually('the alert of that pass sent', () =>
      Promise.resolve(hanging.received.length === 1 ? true : undefined),
    );
    const second = await world.template('Deployment', 'web');
    await world.setConfigMap('app', { v: '3' });
    await rolled(second);
    assert.equal(hanging.received[0]?.closedAt, 0, 'the first alert still hangs');
    await eventually('the second pass alerts too', () =>
      Promise.resolve(hanging.received.length === 2 ? true : undefined),
    );
  });

  it('run --once pushes its metrics to a Pushgateway; a failing sink or push fails nothing', async (t) => {
    const world = await recorded(t, 'web');
    const gateway = await recorder(t);
    const refusing = await recorder(t, (res) => res.writeHead(500).end('no'));
    await world.setConfigMap('app', { v: '2' });
    const before = await world.template('Deployment', 'web');
    const result = await cli(onceArgs(world, `--pushgateway-url=${gateway.url}/prefix`), {
      ALERT_ON_RELOAD: 'true',
      ALERT_SINK: 'teams',
      ALERT_WEBHOOK_URL: `${refusing.url}/hook`,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.notEqual(await world.template('Deployment', 'web'), before);
    assert.equal(refusing.received.length, 1, 'the alert was tried');
    const push = gateway.received[0];
    const group = Buffer.from(`${world.namespace}/polling-reloader`).toString('base64url');
    assert.equal(push?.method, 'PUT', 'a successful run replaces its group');
    assert.equal(push.url, `/prefix/metrics/job/polling-reloader/lease@base64/${group}`);
    assert.match(push.contentType, /^text\/plain; version=0\.0\.4/);
    assert.equal(sample(push.body, 'reloader_reload_executed_total', { success: 'true' }), 1);
    assert.equal(sample(push.body, 'polling_reloader_alerts_total', { result: 'failed' }), 1);
    assert.equal(sample(push.body, 'polling_reloader_events_total', { result: 'written' }), 1);
    assert.ok((sample(push.body, 'polling_reloader_last_success_timestamp_seconds') ?? 0) > 0);
    assert.equal(push.body.includes('process_'), false, 'no process metrics in a push');

    // Another instance holds the Lease: this run pushes that, and keeps the last success.
    const leases = kc.makeApiClient(CoordinationV1Api);
    const lease = await leases.readNamespacedLease({
      name: 'polling-reloader',
      namespace: world.namespace,
    });
    lease.spec = {
      holderIdentity: 'someone-else',
      leaseDurationSeconds: 60,
      renewTime: new V1MicroTime(Date.now()),
    };
    await leases.replaceNamespacedLease({
      name: 'polling-reloader',
      namespace: world.namespace,
      body: lease,
    });
    const standby = await cli(onceArgs(world, `--pushgateway-url=${gateway.url}`));
    assert.equal(standby.code, 0, standby.stderr);
    const second = gateway.received[1];
    assert.equal(second?.method, 'POST', 'only its own metrics are replaced');
    assert.equal(sample(second.body, 'polling_reloader_passes_total', { result: 'standby' }), 1);
    assert.equal(sample(second.body, 'polling_reloader_last_success_timestamp_seconds'), undefined);

    const down = await cli(
      onceArgs(world, `--pushgateway-url=http://127.0.0.1:${await freePort()}`),
    );
    assert.equal(down.code, 0, 'a Pushgateway that is down fails nothing');
  });
});
