import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  alertConfig,
  alertLineLimit,
  alertMessage,
  alertRequest,
  alertedReloads,
} from './alerts.js';
import {
  alreadyDone,
  failed,
  patched,
  recreated,
  reload,
  trigger,
} from './fixtures.test-helper.js';

const on = { ALERT_ON_RELOAD: 'true', ALERT_WEBHOOK_URL: 'https://hooks.example.com/T/B/x' };

describe('alertConfig', () => {
  it('is off unless ALERT_ON_RELOAD is true, as in Reloader', () => {
    assert.deepEqual(alertConfig({}), {});
    assert.deepEqual(alertConfig({ ...on, ALERT_ON_RELOAD: 'false' }), {});
    assert.deepEqual(alertConfig({ ...on, ALERT_ON_RELOAD: 'yes' }), {});
  });

  it('reads the sink case-insensitively; any other sink is raw', () => {
    assert.equal(alertConfig({ ...on, ALERT_SINK: ' Slack ' }).config?.sink, 'slack');
    assert.equal(alertConfig({ ...on, ALERT_SINK: 'teams' }).config?.sink, 'teams');
    assert.equal(alertConfig({ ...on, ALERT_SINK: 'gchat' }).config?.sink, 'gchat');
    assert.equal(alertConfig({ ...on, ALERT_SINK: 'webhook' }).config?.sink, 'raw');
    assert.equal(alertConfig(on).config?.sink, 'raw');
  });

  it('reads the proxy and the additional info', () => {
    const { config } = alertConfig({
      ...on,
      ALERT_WEBHOOK_PROXY: 'http://proxy:3128',
      ALERT_ADDITIONAL_INFO: ' prod-eu ',
    });
    assert.equal(config?.proxy?.host, 'proxy:3128');
    assert.equal(config.additionalInfo, 'prod-eu');
  });

  it('a missing or unusable URL or proxy: alerts off, with the problem, never the URL', () => {
    for (const env of [
      { ALERT_ON_RELOAD: 'true' },
      { ...on, ALERT_WEBHOOK_URL: 'ftp://x/secret-token' },
      { ...on, ALERT_WEBHOOK_URL: 'not a url secret-token' },
      { ...on, ALERT_WEBHOOK_PROXY: 'socks5://proxy:1080' },
    ]) {
      const got = alertConfig(env);
      assert.equal(got.config, undefined);
      assert.match(got.problem ?? '', /ALERT_WEBHOOK_(URL|PROXY)/);
      assert.doesNotMatch(got.problem ?? '', /secret-token/);
    }
  });
});

describe('alertMessage', () => {
  it("one of Reloader's sentences a line, for the reloads done only", () => {
    const reloads = alertedReloads([
      { reload: reload('web'), outcome: patched },
      { reload: reload('job', { kind: 'Job', namespace: 'b' }), outcome: recreated },
      { reload: reload('same'), outcome: alreadyDone },
      { reload: reload('blocked'), outcome: failed('x') },
    ]);
    assert.equal(
      alertMessage(reloads, undefined),
      'Reloader detected changes in *app* of type *CONFIGMAP* in namespace *ns*. Hence reloaded *web* of type *Deployment* in namespace *ns*\n' +
        'Reloader detected changes in *app* of type *CONFIGMAP* in namespace *b*. Hence reloaded *job* of type *Job* in namespace *b*',
    );
  });

  it('ALERT_ADDITIONAL_INFO comes first, as Reloader puts it; nothing reloaded, no message', () => {
    const text = alertMessage([reload('web')], 'prod-eu');
    assert.match(text ?? '', /^prod-eu : Reloader detected changes/);
    assert.equal(alertMessage([], 'prod-eu'), undefined);
  });

  it('names every source of a reload, and a held back or resumed rollout', () => {
    const two = reload('web', {
      triggers: [trigger(), trigger({ kind: 'Secret', name: 'db' })],
      pause: true,
    });
    assert.match(
      alertMessage([two], undefined) ?? '',
      /changes in \*app\* of type \*CONFIGMAP\*, \*db\* of type \*SECRET\* in namespace \*ns\*.*held back by its pause period/,
    );
    const resumed = reload('web', { triggers: [], resume: true });
    assert.match(alertMessage([resumed], undefined) ?? '', /resumed the rollout of \*web\*/);
  });

  it('a pass with very many reloads names the first ones and counts the rest', () => {
    const many = Array.from({ length: alertLineLimit + 7 }, (_, i) => reload(`w${i}`));
    const lines = (alertMessage(many, undefined) ?? '').split('\n');
    assert.equal(lines.length, alertLineLimit + 1);
    assert.equal(lines.at(-1), '…and 7 more reloads');
  });
});

describe('alertRequest', () => {
  const text = 'Reloader detected changes in *app*';

  it("slack: Reloader's attachment", () => {
    const r = alertRequest('slack', text);
    assert.equal(r.contentType, 'application/json');
    assert.deepEqual(JSON.parse(r.body), {
      attachments: [{ color: 'good', author_name: 'Reloader', text }],
    });
    assert.ok(r.accepted(200) && r.accepted(204));
    assert.ok(!r.accepted(302) && !r.accepted(404));
  });

  it('teams and gchat: {"text"}, taken only with a 200', () => {
    for (const sink of ['teams', 'gchat'] as const) {
      const r = alertRequest(sink, text);
      assert.deepEqual(JSON.parse(r.body), { text });
      assert.ok(r.accepted(200));
      assert.ok(!r.accepted(202), `${sink}: 202 is not 200`);
    }
  });

  it('raw: plain text without the * marks', () => {
    const r = alertRequest('raw', text);
    assert.equal(r.contentType, 'text/plain');
    assert.equal(r.body, 'Reloader detected changes in app');
  });
});
