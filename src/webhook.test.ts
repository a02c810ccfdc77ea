import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import type { Change } from './model.js';
import { postWebhook, webhookBody, webhookChanges } from './webhook.js';

const change = (type: Change['type']): Change => ({
  kind: 'ConfigMap',
  namespace: 'ns',
  name: type,
  type,
  hash: 'h',
});

describe('webhookChanges', () => {
  it('sends updates always, creations and deletions only when Reloader would watch them', () => {
    const all = [change('updated'), change('created'), change('deleted')];
    const names = (o: { reloadOnCreate: boolean; reloadOnDelete: boolean }): string[] =>
      webhookChanges(all, o).map((c) => c.name);
    assert.deepEqual(names({ reloadOnCreate: false, reloadOnDelete: false }), ['updated']);
    assert.deepEqual(names({ reloadOnCreate: true, reloadOnDelete: true }), [
      'updated',
      'created',
      'deleted',
    ]);
  });
});

describe('webhookChanges: SecretProviderClasses', () => {
  it('sends their updates only, as Reloader drops the creation and deletion of pod statuses', () => {
    const spc = (type: Change['type']): Change => ({
      ...change(type),
      kind: 'SecretProviderClass',
    });
    const all = [spc('updated'), spc('created'), spc('deleted')];
    const sent = webhookChanges(all, { reloadOnCreate: true, reloadOnDelete: true });
    assert.deepEqual(
      sent.map((c) => c.type),
      ['updated'],
    );
  });
});

describe('postWebhook', () => {
  it("POSTs Reloader's body as JSON; a refusal or no answer is an error", async (t) => {
    const bodies: string[] = [];
    let status = 200;
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        bodies.push(`${req.method ?? ''} ${req.headers['content-type'] ?? ''} ${body}`);
        if (status === 0) return; // never answers
        res.statusCode = status;
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    await postWebhook(url);
    assert.deepEqual(bodies, [`POST application/json ${webhookBody}`]);
    status = 404;
    await assert.rejects(postWebhook(url), /webhook refused: HTTP 404/);
    status = 0;
    await assert.rejects(postWebhook(url, 200), /webhook not sent/);
  });
});
