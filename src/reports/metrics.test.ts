import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  alreadyDone,
  done,
  failed,
  finishedAt,
  notActing,
  patched,
  recreated,
  reload,
  report,
  sample,
} from './fixtures.test-helper.js';
import { Metrics, passFigures, passLabel } from './metrics.js';

const outcomes = [
  { reload: reload('web'), outcome: patched },
  { reload: reload('job', { kind: 'Job', namespace: 'batch' }), outcome: recreated },
  { reload: reload('blocked'), outcome: failed('ns/Deployment/blocked: HTTP 403') },
  { reload: reload('same'), outcome: alreadyDone },
  { reload: reload('late'), outcome: notActing },
];

function metrics(countByNamespace = false, held = true): Metrics {
  return new Metrics({ countByNamespace, processMetrics: false, leaseHeld: () => held });
}

describe('passLabel and passFigures', () => {
  it('a pass that ran to its end with its state saved succeeded, even with a failed reload', () => {
    assert.equal(passLabel(done(report(outcomes))), 'success');
    assert.equal(passLabel(done(report([], { saveError: 'not saved' }))), 'failed');
    assert.equal(passLabel({ status: 'failed', error: 'x', durationMs: 1, finishedAt }), 'failed');
    assert.equal(passLabel({ status: 'standby', finishedAt }), 'standby');
  });

  it('counts reloads by namespace, kind and outcome; a reload left for the next pass is not-applied', () => {
    const f = passFigures(done(report(outcomes)));
    assert.deepEqual(Object.fromEntries(f.reloads), {
      'ns|Deployment|patched': 1,
      'batch|Job|recreated': 1,
      'ns|Deployment|failed': 1,
      'ns|Deployment|already-done': 1,
      'ns|Deployment|not-applied': 1,
    });
    assert.deepEqual(Object.fromEntries(f.changes), { 'ConfigMap|updated': 1 });
    assert.equal(f.durationSeconds, 1.5);
    assert.equal(f.succeededAt, finishedAt.getTime() / 1000);
  });

  it('a standby instance adds a standby pass and nothing else', () => {
    const f = passFigures({ status: 'standby', finishedAt });
    assert.equal(f.result, 'standby');
    assert.equal(f.durationSeconds, undefined);
    assert.equal(f.reloads.size, 0);
    assert.equal(f.api, undefined);
  });
});

describe('Metrics', () => {
  it("exposes Reloader's counters, pre-created at 0, and counts executed reloads as Reloader does", async () => {
    const m = metrics();
    let text = await m.text();
    assert.equal(sample(text, 'reloader_reload_executed_total', { success: 'true' }), 0);
    assert.equal(sample(text, 'reloader_reload_executed_total', { success: 'false' }), 0);
    assert.equal(text.includes('reloader_reload_executed_total_by_namespace'), false);

    m.recordPass(done(report(outcomes)));
    text = await m.text();
    assert.equal(sample(text, 'reloader_reload_executed_total', { success: 'true' }), 2);
    assert.equal(sample(text, 'reloader_reload_executed_total', { success: 'false' }), 1);
    assert.equal(
      sample(text, 'reloader_action_total', { workload_kind: 'Deployment', result: 'success' }),
      1,
    );
    assert.equal(
      sample(text, 'reloader_action_total', { workload_kind: 'Job', result: 'success' }),
      1,
    );
    assert.equal(
      sample(text, 'reloader_action_total', { workload_kind: 'Deployment', result: 'error' }),
      1,
    );
    assert.equal(sample(text, 'reloader_workloads_matched_total', { kind: 'Deployment' }), 4);
    assert.equal(sample(text, 'reloader_workloads_scanned_total', { kind: 'Deployment' }), 5);
  });

  it('the by-namespace counter exists only with METRICS_COUNT_BY_NAMESPACE', async () => {
    const m = metrics(true);
    m.recordPass(done(report(outcomes)));
    const text = await m.text();
    const by = (success: string, namespace: string) =>
      sample(text, 'reloader_reload_executed_total_by_namespace', { success, namespace });
    assert.equal(by('true', 'ns'), 1);
    assert.equal(by('true', 'batch'), 1);
    assert.equal(by('false', 'ns'), 1);
  });

  it("tells the poller's own figures: passes, duration, what they saw and cost", async () => {
    const m = metrics();
    m.recordPass(done(report(outcomes, { pending: ['ns/ConfigMap/app'] })));
    m.recordPass({ status: 'standby', finishedAt });
    m.recordPass({ status: 'failed', error: 'x', durationMs: 300_000, finishedAt });
    const text = await m.text();
    assert.equal(sample(text, 'polling_reloader_passes_total', { result: 'success' }), 1);
    assert.equal(sample(text, 'polling_reloader_passes_total', { result: 'standby' }), 1);
    assert.equal(sample(text, 'polling_reloader_passes_total', { result: 'failed' }), 1);
    const bucket = (result: string, le: string) =>
      sample(text, 'polling_reloader_pass_duration_seconds_bucket', { result, le });
    assert.equal(bucket('success', '1'), 0);
    assert.equal(bucket('success', '2.5'), 1);
    assert.equal(bucket('failed', '300'), 1);
    assert.equal(sample(text, 'polling_reloader_sources'), 3);
    assert.equal(sample(text, 'polling_reloader_workloads'), 5);
    assert.equal(sample(text, 'polling_reloader_pending_changes'), 1);
    assert.equal(
      sample(text, 'polling_reloader_changes_total', { kind: 'ConfigMap', type: 'updated' }),
      1,
    );
    const reloads = (namespace: string, kind: string, outcome: string) =>
      sample(text, 'polling_reloader_reloads_total', {
        namespace,
        workload_kind: kind,
        outcome,
      });
    assert.equal(reloads('ns', 'Deployment', 'patched'), 1);
    assert.equal(reloads('batch', 'Job', 'recreated'), 1);
    assert.equal(reloads('ns', 'Deployment', 'not-applied'), 1);
    assert.equal(sample(text, 'polling_reloader_api_requests_total'), 7);
    assert.equal(sample(text, 'polling_reloader_api_read_bytes_total'), 4096);
    assert.equal(sample(text, 'polling_reloader_last_pass_api_read_bytes'), 4096);
    assert.equal(sample(text, 'polling_reloader_lease_held'), 1);
  });

  it('the time of the last successful pass appears with the first one, and only a success moves it', async () => {
    const m = metrics(false, false);
    m.recordPass({ status: 'failed', error: 'x', durationMs: 1, finishedAt });
    let text = await m.text();
    assert.equal(sample(text, 'polling_reloader_last_success_timestamp_seconds'), undefined);
    assert.equal(sample(text, 'polling_reloader_lease_held'), 0);
    m.recordPass(done(report([])));
    m.recordPass({ status: 'failed', error: 'x', durationMs: 1, finishedAt: new Date() });
    text = await m.text();
    assert.equal(
      sample(text, 'polling_reloader_last_success_timestamp_seconds'),
      finishedAt.getTime() / 1000,
    );
  });

  it('label values are namespaces, kinds and outcomes: never a source name or a hash', async () => {
    const m = metrics(true);
    const secret = reload('web', {
      triggers: [
        { kind: 'Secret', name: 'db-password', rule: 'auto', reason: 'updated', hash: 'k:abc' },
      ],
    });
    m.recordPass(done(report([{ reload: secret, outcome: patched }])));
    const text = await m.text();
    assert.equal(text.includes('db-password'), false);
    assert.equal(text.includes('k:abc'), false);
  });
});

describe('the Grafana dashboard (cronjob/grafana-dashboard.json)', () => {
  it('queries only metrics that are exported', async () => {
    const file = new URL('../../cronjob/grafana-dashboard.json', import.meta.url);
    const dashboard = JSON.parse(readFileSync(file, 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    const m = metrics(true);
    m.recordPass(done(report(outcomes)));
    const text = await m.text();
    const exported = new Set(
      text
        .split('\n')
        .filter((line) => line.startsWith('# TYPE '))
        .map((line) => line.split(' ')[2]),
    );
    const used = new Set<string>();
    for (const panel of dashboard.panels) {
      assert.ok(panel.targets.length > 0, panel.title);
      for (const { expr } of panel.targets) {
        for (const name of expr.match(/\b(?:polling_reloader|reloader)_\w+/g) ?? [])
          used.add(name.replace(/_(bucket|sum|count)$/, ''));
      }
    }
    for (const name of used) assert.ok(exported.has(name), `${name} is exported`);
    for (const wanted of [
      'polling_reloader_passes_total',
      'polling_reloader_pass_duration_seconds',
      'polling_reloader_last_success_timestamp_seconds',
      'polling_reloader_reloads_total',
      'polling_reloader_pending_changes',
      'polling_reloader_last_pass_api_read_bytes',
    ])
      assert.ok(used.has(wanted), `the dashboard shows ${wanted}`);
  });
});
