import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { labelSelector, listenAddress, parseRunFlags } from './options.js';

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
