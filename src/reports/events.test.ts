import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  alreadyDone,
  failed,
  finishedAt,
  notActing,
  patched,
  recreated,
  reload,
  trigger,
} from './fixtures.test-helper.js';
import { reloadEvent, type EventContext } from './events.js';

const ctx: EventContext = { now: finishedAt, instance: 'reloader-0', sequence: 0 };

describe('reloadEvent', () => {
  it('Normal Reloaded on the workload, in Reloader words, naming each source and its rule', () => {
    const r = reload('web', {
      triggers: [
        trigger(),
        trigger({ kind: 'Secret', name: 'db', rule: 'reload-list', reason: 'created' }),
      ],
    });
    const event = reloadEvent({ reload: r, outcome: patched }, ctx);
    assert.ok(event);
    assert.equal(event.apiVersion, 'events.k8s.io/v1');
    assert.equal(event.type, 'Normal');
    assert.equal(event.reason, 'Reloaded');
    assert.equal(event.action, 'Reload');
    assert.equal(event.reportingController, 'polling-reloader');
    assert.equal(event.reportingInstance, 'reloader-0');
    assert.deepEqual(event.regarding, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      namespace: 'ns',
      name: 'web',
      uid: 'uid-web',
    });
    assert.deepEqual(event.related, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: 'ns',
      name: 'app',
    });
    assert.equal(event.metadata.namespace, 'ns');
    assert.equal(
      event.note,
      "Changes detected in 'app' of type 'CONFIGMAP', 'db' of type 'SECRET' in namespace 'ns', " +
        "Updated 'web' of type 'Deployment' in namespace 'ns'; because " +
        'ConfigMap/app: its content changed; rule: auto annotation, and the pod spec references it; ' +
        'Secret/db: it was created; rule: named in its reload annotation',
    );
  });

  it('Warning ReloadFail with the error, for a reload that failed', () => {
    const event = reloadEvent(
      { reload: reload('blocked'), outcome: failed('ns/Deployment/blocked: HTTP 403: denied') },
      ctx,
    );
    assert.equal(event?.type, 'Warning');
    assert.equal(event.reason, 'ReloadFail');
    assert.match(
      event.note,
      /^Update for 'blocked' of type 'Deployment' in namespace 'ns' failed with error ns\/Deployment\/blocked: HTTP 403: denied; it was due because ConfigMap\/app: its content changed/,
    );
  });

  it('a re-created Job is named without the uid of the Job it replaced', () => {
    const event = reloadEvent({ reload: reload('job', { kind: 'Job' }), outcome: recreated }, ctx);
    assert.equal(event?.regarding.apiVersion, 'batch/v1');
    assert.equal(event.regarding.uid, undefined);
  });

  it('none for a reload found done, or left for the next pass', () => {
    assert.equal(reloadEvent({ reload: reload('a'), outcome: alreadyDone }, ctx), undefined);
    assert.equal(reloadEvent({ reload: reload('a'), outcome: notActing }, ctx), undefined);
  });

  it('a note past 1 kB is cut, a MicroTime has six digits, and names differ by sequence', () => {
    const many = Array.from({ length: 40 }, (_, i) => trigger({ name: `config-${i}` }));
    const event = reloadEvent({ reload: reload('web', { triggers: many }), outcome: patched }, ctx);
    assert.ok(event);
    assert.ok(Buffer.byteLength(event.note) <= 1024, `${Buffer.byteLength(event.note)} bytes`);
    assert.ok(event.note.endsWith('…'));
    assert.equal(event.eventTime, '2024-05-01T12:00:00.123000Z');
    const other = reloadEvent({ reload: reload('web'), outcome: patched }, { ...ctx, sequence: 1 });
    assert.notEqual(other?.metadata.name, event.metadata.name);
    assert.match(event.metadata.name, /^web\.[0-9a-f]+$/);
    const long = reloadEvent({ reload: reload('x'.repeat(253)), outcome: patched }, ctx);
    assert.ok((long?.metadata.name.length ?? 0) <= 253);
  });

  it('a resumed rollout, with no source, says so', () => {
    const event = reloadEvent(
      { reload: reload('web', { triggers: [], resume: true }), outcome: patched },
      ctx,
    );
    assert.equal(event?.related, undefined);
    assert.match(event?.note ?? '', /resumed its rollout/);
  });
});
