import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  csvFields,
  labelSelector,
  listenAddress,
  parseRunFlags,
  passOptions,
  runCommand,
  singleNamespace,
  startupWarnings,
} from './options.js';
import { neededPermissions } from './permissions.js';

describe('labelSelector', () => {
  it("turns Reloader's key:value and key:* into a Kubernetes selector", () => {
    assert.equal(labelSelector('team:a,reload:*'), 'team=a,reload');
    assert.equal(labelSelector('example.com/team:x'), 'example.com/team=x');
  });

  it('keeps Kubernetes selectors, set-based ones included', () => {
    assert.equal(labelSelector('app=web,tier!=db'), 'app=web,tier!=db');
    assert.equal(labelSelector('env in (a,b),!legacy'), 'env in (a,b),!legacy');
  });

  it('refuses what is neither, instead of reading part of it', () => {
    for (const bad of ['a:b:c', 'a=b c', '=x', 'env in a']) {
      assert.throws(() => labelSelector(bad), /is not a label selector term/, bad);
    }
  });
});

describe('durations', () => {
  it('refuses a duration longer than a timer can wait', () => {
    assert.throws(() => parseRunFlags(['--interval=600h']), /longer than 24 days/);
    assert.equal(parseRunFlags(['--interval=10s']).interval, 10_000);
  });
});

describe('reload storm flags (SPEC §10)', () => {
  it('--max-reloads-per-pass takes a whole number of at least 1; unlimited by default', () => {
    assert.equal(passOptions(parseRunFlags([])).batch.maxPerPass, undefined);
    assert.equal(passOptions(parseRunFlags(['--max-reloads-per-pass=5'])).batch.maxPerPass, 5);
    for (const bad of ['0', '-1', '2.5', 'ten', '']) {
      assert.throws(
        () => parseRunFlags([`--max-reloads-per-pass=${bad}`]),
        /not a whole number of at least 1/,
        bad,
      );
    }
  });

  it('--wait-healthy is a boolean, off by default', () => {
    assert.equal(passOptions(parseRunFlags([])).batch.waitHealthy, false);
    assert.equal(passOptions(parseRunFlags(['--wait-healthy'])).batch.waitHealthy, true);
    assert.equal(passOptions(parseRunFlags(['--wait-healthy=false'])).batch.waitHealthy, false);
  });
});

describe("Reloader's flags", () => {
  const booleans = runCommand(() => Promise.resolve())
    .options.filter((o) => o.flags.endsWith('[bool]'))
    .map((o) => o.long ?? '');

  it("every boolean flag takes Go's spellings", () => {
    assert.ok(booleans.length >= 9, booleans.join(' '));
    for (const flag of booleans) {
      const key = flag.slice(2).replace(/-([a-zA-Z])/g, (_, c: string) => c.toUpperCase());
      for (const raw of ['1', 't', 'T', 'TRUE', 'true', 'True']) {
        assert.equal(parseRunFlags([`${flag}=${raw}`])[key], true, `${flag}=${raw}`);
      }
      for (const raw of ['0', 'f', 'F', 'FALSE', 'false', 'False']) {
        assert.equal(parseRunFlags([`${flag}=${raw}`])[key], false, `${flag}=${raw}`);
      }
      assert.equal(parseRunFlags([flag])[key], true, `${flag} alone`);
      assert.throws(() => parseRunFlags([`${flag}=yes`]), /not a boolean/, flag);
    }
  });

  it('accepts every flag Reloader 1.4 defines', () => {
    const flags = parseRunFlags([
      '--enable-ha=true',
      '--sync-after-restart',
      '--webhook-url=http://127.0.0.1:9/hook',
      '--enable-pprof',
      '--pprof-addr=:6061',
      '--enable-csi-integration=false',
      '--is-Argo-Rollouts=True',
      '--log-level=panic',
    ]);
    assert.equal(flags.enableHa, true);
    assert.equal(flags.syncAfterRestart, true);
    assert.equal(flags.webhookUrl, 'http://127.0.0.1:9/hook');
    assert.equal(flags.pprofAddr, ':6061');
    assert.equal(flags.isArgoRollouts, true);
    assert.equal(flags.logLevel, 'fatal');
    assert.equal(parseRunFlags(['--log-level=FATAL']).logLevel, 'fatal');
    assert.equal(parseRunFlags(['--log-level=warning']).logLevel, 'warn');
    assert.throws(() => parseRunFlags(['--log-level=loud']), /fatal/);
    assert.throws(() => parseRunFlags(['--webhook-url=ftp://x']), /not an http/);
  });

  it('reads a list value wrapped in quotes as Reloader does (its chart renders them)', () => {
    const flags = parseRunFlags([
      '--namespace-selector="team=a"',
      '--resource-label-selector="app:web,tier=db"',
      '--namespaces="a,b",c',
    ]);
    assert.equal(flags.namespaceSelector, 'team=a');
    assert.equal(flags.resourceLabelSelector, 'app=web,tier=db');
    assert.deepEqual(flags.namespaces, ['a,b', 'c']);
    assert.throws(() => parseRunFlags(['--namespaces="a']), /unclosed quote/);
    assert.throws(() => parseRunFlags(['--namespaces=a"b']), /stray quote/);
  });

  it('adds up a list flag given more than once, as Reloader does', () => {
    const flags = parseRunFlags([
      '--namespaces=a',
      '--namespaces=b,c',
      '--ignored-workload-types=jobs',
      '--ignored-workload-types=cronjobs',
      '--namespace-selector=team:a',
      '--namespace-selector=tier=web',
    ]);
    assert.deepEqual(flags.namespaces, ['a', 'b', 'c']);
    assert.deepEqual(flags.ignoredWorkloadTypes, ['Job', 'CronJob']);
    assert.equal(flags.namespaceSelector, 'team=a,tier=web');
  });

  it('csvFields splits as a CSV record, quotes and doubled quotes included', () => {
    assert.deepEqual(csvFields('a, b ,,c'), ['a', 'b', 'c']);
    assert.deepEqual(csvFields('"x=""1""",y'), ['x="1"', 'y']);
    assert.deepEqual(csvFields(''), []);
  });

  it('says what to use instead of pprof; --enable-csi-integration needs no warning', () => {
    assert.deepEqual(startupWarnings(parseRunFlags([])), []);
    const warnings = startupWarnings(parseRunFlags(['--enable-pprof', '--enable-csi-integration']));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /--inspect|--cpu-prof/);
  });

  it('--enable-csi-integration: SecretProviderClassPodStatus objects are listed, and need list', () => {
    const csiList = (args: string[]) =>
      neededPermissions(passOptions(parseRunFlags(args))).filter(
        (n) => n.resource === 'secretproviderclasspodstatuses',
      );
    assert.deepEqual(csiList([]), [], 'without the flag, none is asked for');
    const off = passOptions(parseRunFlags([]));
    assert.equal(off.scope.csiIntegration, false);
    assert.equal(off.plan.csiIntegration, false);
    const on = passOptions(parseRunFlags(['--enable-csi-integration=true']));
    assert.equal(on.scope.csiIntegration, true);
    assert.equal(on.plan.csiIntegration, true);
    assert.deepEqual(csiList(['--enable-csi-integration', '--namespaces=a,b']), [
      {
        verb: 'list',
        group: 'secrets-store.csi.x-k8s.io',
        resource: 'secretproviderclasspodstatuses',
        namespace: 'a',
      },
      {
        verb: 'list',
        group: 'secrets-store.csi.x-k8s.io',
        resource: 'secretproviderclasspodstatuses',
        namespace: 'b',
      },
    ]);
  });

  it('webhook mode touches no workload: no kind is listed, so none needs a permission', () => {
    const options = passOptions(parseRunFlags(['--webhook-url=https://example.com/x']));
    assert.deepEqual(options.scope.workloadKinds, []);
    assert.equal(options.webhookUrl, 'https://example.com/x');
  });
});

describe("KUBERNETES_NAMESPACE (Reloader's single-namespace mode)", () => {
  const env = { KUBERNETES_NAMESPACE: 'team-a' };

  it('without --namespaces, means that namespace only; --namespaces wins', () => {
    assert.equal(singleNamespace(parseRunFlags([]), env), 'team-a');
    assert.equal(singleNamespace(parseRunFlags(['--namespaces=b']), env), undefined);
    assert.equal(singleNamespace(parseRunFlags([]), {}), undefined);
    const scope = passOptions(parseRunFlags([]), env).scope;
    assert.deepEqual(scope.namespaces, ['team-a']);
    assert.deepEqual(passOptions(parseRunFlags(['--namespaces=b']), env).scope.namespaces, ['b']);
  });

  it('ignores the namespace ignore list and selector, as Reloader does, and says so', () => {
    const flags = parseRunFlags(['--namespace-selector=team=a', '--namespaces-to-ignore=x']);
    const { scope } = passOptions(flags, env);
    assert.equal(scope.namespaceSelector, undefined);
    assert.deepEqual(scope.namespacesToIgnore, []);
    const warnings = startupWarnings(flags, env);
    assert.equal(warnings.length, 2);
    for (const w of warnings) assert.match(w, /is ignored: KUBERNETES_NAMESPACE .* team-a/);
  });

  it("takes its own namespace from $POD_NAMESPACE, else $RELOADER_NAMESPACE (Reloader's chart sets it)", () => {
    const saved = { pod: process.env.POD_NAMESPACE, reloader: process.env.RELOADER_NAMESPACE };
    try {
      delete process.env.POD_NAMESPACE;
      process.env.RELOADER_NAMESPACE = 'reloader';
      assert.equal(parseRunFlags([]).leaseNamespace, 'reloader');
      process.env.POD_NAMESPACE = 'pod';
      assert.equal(parseRunFlags([]).leaseNamespace, 'pod');
    } finally {
      for (const [name, value] of [
        ['POD_NAMESPACE', saved.pod],
        ['RELOADER_NAMESPACE', saved.reloader],
      ] as const) {
        if (value === undefined) Reflect.deleteProperty(process.env, name);
        else process.env[name] = value;
      }
    }
  });

  it("asks for no permission outside that namespace and the reloader's own", () => {
    const flags = parseRunFlags(['--namespace-selector=team=a', '--lease-namespace=team-a']);
    const needs = neededPermissions(passOptions(flags, env));
    assert.ok(needs.length > 0);
    for (const need of needs) assert.equal(need.namespace, 'team-a', JSON.stringify(need));
  });
});

describe('--metrics-address', () => {
  it("reads Reloader's :9090, host:port and [v6]:port; empty turns it off", () => {
    assert.deepEqual(parseRunFlags([]).metricsAddress, { port: 9090 });
    assert.deepEqual(listenAddress(':9090'), { host: undefined, port: 9090 });
    assert.deepEqual(listenAddress('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(listenAddress('[::1]:9090'), { host: '::1', port: 9090 });
    assert.equal(parseRunFlags(['--metrics-address=']).metricsAddress, false);
  });

  it('refuses what is not an address', () => {
    for (const bad of ['9090', 'host', 'a:b', ':70000', '::1:9090']) {
      assert.throws(() => listenAddress(bad), /host:port|port number/, bad);
    }
  });

  it('--pushgateway-url must be an http(s) URL', () => {
    assert.equal(
      parseRunFlags(['--pushgateway-url=http://pg:9091']).pushgatewayUrl?.host,
      'pg:9091',
    );
    assert.throws(() => parseRunFlags(['--pushgateway-url=pg:9091']), /http/);
  });
});
