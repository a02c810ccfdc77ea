import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pushUrl } from './push.js';

describe('pushUrl', () => {
  it('appends the job and the grouping key to the base, a value with a slash in base64', () => {
    const url = pushUrl({
      url: new URL('http://user:pw@pushgateway:9091/prefix/?x=1'),
      job: 'polling-reloader',
      grouping: { lease: 'polling-reloader/polling-reloader', zone: 'eu 1' },
    });
    const b64 = Buffer.from('polling-reloader/polling-reloader').toString('base64url');
    assert.equal(
      url.href,
      `http://user:pw@pushgateway:9091/prefix/metrics/job/polling-reloader/lease@base64/${b64}/zone/eu%201`,
    );
  });

  it('an empty value is "=" in base64', () => {
    const url = pushUrl({ url: new URL('http://p:9091'), job: 'j', grouping: { lease: '' } });
    assert.equal(url.pathname, '/metrics/job/j/lease@base64/=');
  });
});
