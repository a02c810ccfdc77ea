import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { defaultAnnotationNames as names } from './annotations.js';
import {
  readReloaderRecord,
  reloaderProvesOutdated,
  reloaderSha,
  reloaderShaRequest,
} from './reloader-records.js';

const sha1 = (text: string | Buffer): string => createHash('sha1').update(text).digest('hex');
const b64 = (text: string | Buffer): string => Buffer.from(text).toString('base64');
const v1 = 'a'.repeat(40);
const v2 = 'b'.repeat(40);

describe('reloaderSha (as util.go: sorted key=value joined by ;, SHA1)', () => {
  it('hashes a ConfigMap: data as is, binaryData in base64, sorted', () => {
    const content = {
      data: { url: 'www.stakater.com', a: '1' },
      binaryData: { bin: b64('\0\x01') },
    };
    assert.equal(reloaderSha('ConfigMap', content), sha1('a=1;bin=AAE=;url=www.stakater.com'));
  });

  it('hashes a Secret over its decoded bytes, its type aside', () => {
    const bytes = Buffer.from([0xff, 0x00, 0x41]);
    const content = { data: { token: b64('s3cret'), raw: bytes.toString('base64') }, type: 'x' };
    const expected = sha1(
      Buffer.concat([Buffer.from('raw='), bytes, Buffer.from(';token=s3cret')]),
    );
    assert.equal(reloaderSha('Secret', content), expected);
  });

  it('hashes empty content to SHA1 of nothing, as Reloader does', () => {
    assert.equal(reloaderSha('ConfigMap', {}), 'da39a3ee5e6b4b0d3255bfef95601890afd80709');
    assert.equal(reloaderSha('Secret', { data: {} }), 'da39a3ee5e6b4b0d3255bfef95601890afd80709');
  });
});

describe('readReloaderRecord', () => {
  const template = (annotation?: object, env: { name: string; value: string }[] = []) => ({
    metadata: annotation
      ? { annotations: { [names.lastReloadedFrom]: JSON.stringify(annotation) } }
      : {},
    spec: { containers: [{ name: 'app', env }] },
  });

  it('reads last-reloaded-from and the STAKATER_ variables that hold a SHA1', () => {
    const record = readReloaderRecord(
      template({ type: 'CONFIGMAP', name: 'app', namespace: 'ns', hash: v1 }, [
        { name: 'STAKATER_DB_SECRET', value: v2 },
        { name: 'STAKATER_X_CONFIGMAP', value: 'not-a-hash' },
        { name: 'OTHER', value: v1 },
      ]),
      'ns',
      names,
    );
    assert.deepEqual(record, {
      lastReloadedFrom: { key: 'ConfigMap/app', hash: v1 },
      env: { STAKATER_DB_SECRET: v2 },
    });
  });

  it('has none on a template without them, or with a foreign or malformed annotation', () => {
    assert.equal(readReloaderRecord(template(), 'ns', names), undefined);
    const other = { type: 'CONFIGMAP', name: 'app', namespace: 'elsewhere', hash: v1 };
    assert.equal(readReloaderRecord(template(other), 'ns', names), undefined);
    const unknown = { type: 'PODSTATUS', name: 'app', namespace: 'ns', hash: v1 };
    assert.equal(readReloaderRecord(template(unknown), 'ns', names), undefined);
  });

  it('reads the SecretProviderClass records of --enable-csi-integration', () => {
    const csi = { type: 'SECRETPROVIDERCLASS', name: 'vault-db', namespace: 'ns', hash: v1 };
    const env = [{ name: 'STAKATER_VAULT_DB_SECRETPROVIDERCLASS', value: v2 }];
    assert.deepEqual(readReloaderRecord(template(csi, env), 'ns', names), {
      lastReloadedFrom: { key: 'SecretProviderClass/vault-db', hash: v1 },
      env: { STAKATER_VAULT_DB_SECRETPROVIDERCLASS: v2 },
    });
    const record = { env: { STAKATER_VAULT_DB_SECRETPROVIDERCLASS: v2 } };
    assert.equal(reloaderProvesOutdated(record, 'SecretProviderClass', 'vault-db', v1), true);
    assert.equal(reloaderProvesOutdated(record, 'SecretProviderClass', 'vault-db', v2), false);
    const { wants } = reloaderShaRequest([{ namespace: 'ns', reloader: record }]);
    assert.equal(wants({ namespace: 'ns', kind: 'SecretProviderClass', name: 'vault-db' }), true);
    assert.equal(wants({ namespace: 'ns', kind: 'Secret', name: 'vault-db' }), false);
  });
});

describe('reloaderProvesOutdated', () => {
  const record = { lastReloadedFrom: { key: 'ConfigMap/app', hash: v1 }, env: {} };

  it('when the record names the source with another hash than the current one', () => {
    assert.equal(reloaderProvesOutdated(record, 'ConfigMap', 'app', v2), true);
    assert.equal(reloaderProvesOutdated(record, 'ConfigMap', 'app', v1), false, 'current');
    assert.equal(reloaderProvesOutdated(record, 'ConfigMap', 'other', v2), false, 'not named');
    assert.equal(reloaderProvesOutdated(record, 'Secret', 'app', v2), false, 'another kind');
    assert.equal(reloaderProvesOutdated(record, 'ConfigMap', 'app', undefined), false);
  });

  it('not when either of two records (a change of strategy) holds the current hash', () => {
    const both = { ...record, env: { STAKATER_APP_CONFIGMAP: v2 } };
    assert.equal(reloaderProvesOutdated(both, 'ConfigMap', 'app', v2), false);
  });
});

describe('reloaderShaRequest', () => {
  it('wants only the sources a Reloader record names, in its namespace', () => {
    const { wants } = reloaderShaRequest([
      { namespace: 'a', reloader: { lastReloadedFrom: { key: 'Secret/db', hash: v1 }, env: {} } },
      { namespace: 'b', reloader: { env: { STAKATER_APP_CONFIG_CONFIGMAP: v1 } } },
      { namespace: 'c' },
    ]);
    assert.equal(wants({ namespace: 'a', kind: 'Secret', name: 'db' }), true);
    assert.equal(wants({ namespace: 'a', kind: 'ConfigMap', name: 'db' }), false);
    assert.equal(wants({ namespace: 'b', kind: 'ConfigMap', name: 'app-config' }), true);
    assert.equal(wants({ namespace: 'b', kind: 'Secret', name: 'app-config' }), false);
    assert.equal(wants({ namespace: 'c', kind: 'Secret', name: 'db' }), false);
  });
});
