// SPEC §7: switching over from Stakater Reloader loses nothing. A pass with no state reads the
// records Reloader left on workloads (SHA1 of the content as Reloader computes it) and rolls a
// workload whose record proves it runs an older config; a current record rolls nothing.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { V1Container } from '@kubernetes/client-node';
import { container, reloaded, World } from './harness.js';

const auto = { 'reloader.stakater.com/auto': 'true' };

/** Reloader's hash, spelled out: sorted `key=value` entries joined by `;`, SHA1 in hex. */
const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex');

/** The `last-reloaded-from` value Reloader writes (annotations strategy). */
function lastReloadedFrom(world: World, name: string, hash: string): string {
  return JSON.stringify({
    type: 'CONFIGMAP',
    name,
    namespace: world.namespace,
    hash,
    containerRefs: ['app'],
    observedAt: 1_700_000_000,
  });
}

/** A container that uses Secret `db`, with the variable Reloader sets (env-vars strategy). */
function withReloaderEnv(hash: string): V1Container {
  return Object.assign(container('app', { secrets: ['db'] }), {
    env: [{ name: 'STAKATER_DB_SECRET', value: hash }],
  });
}

/**
 * Reloader's hashes appear neither in the state nor on the workload polling-reloader rolled
 * (its own record, keyed, took the place of Reloader's).
 */
async function assertNotWritten(world: World, hashes: string[]): Promise<void> {
  const state = readFileSync(world.statePath, 'utf8');
  const rolled = JSON.stringify(await world.read('Deployment', 'stale'));
  for (const hash of hashes) {
    assert.ok(!state.includes(hash), 'the state holds no SHA1');
    assert.ok(!rolled.includes(hash), 'the rolled workload holds no SHA1');
  }
}

describe('switching over from Reloader (SPEC §7)', () => {
  it('annotations strategy: last-reloaded-from with the SHA1 of older content rolls at the first pass; the current one does not', async (t) => {
    const world = await World.create(t);
    await world.configMap('app', { v: '1', url: 'x' });
    const v1 = sha1('url=x;v=1');
    const v2 = sha1('url=x;v=2');
    for (const [name, hash] of [
      ['stale', v1],
      ['current', v2],
    ] as const) {
      await world.deployment(name, {
        annotations: auto,
        templateAnnotations: {
          'reloader.stakater.com/last-reloaded-from': lastReloadedFrom(world, 'app', hash),
        },
        podSpec: { containers: [container('app', { configMaps: ['app'] })] },
      });
    }
    // Reloader stopped; the ConfigMap changed before polling-reloader's first pass.
    await world.setConfigMap('app', { v: '2', url: 'x' });
    const before = {
      stale: await world.template('Deployment', 'stale'),
      current: await world.template('Deployment', 'current'),
    };

    const first = await world.pass();
    assert.equal(first.baseline, true);
    assert.deepEqual(reloaded(first), ['Deployment/stale']);
    assert.equal(first.outcomes[0]?.reload.triggers[0]?.reason, 'reloader-outdated');
    assert.notEqual(await world.template('Deployment', 'stale'), before.stale, 'stale rolled');
    assert.equal(await world.template('Deployment', 'current'), before.current, 'current did not');
    await assertNotWritten(world, [v1, v2]);

    assert.deepEqual(reloaded(await world.pass()), [], 'and never again for the same content');
  });

  it('env-vars strategy: STAKATER_<NAME>_SECRET with the SHA1 of older content rolls at the first pass; the current one does not', async (t) => {
    const world = await World.create(t);
    await world.secret('db', { password: 'p1' });
    const v1 = sha1('password=p1');
    const v2 = sha1('password=p2');
    await world.deployment('stale', {
      annotations: auto,
      podSpec: { containers: [withReloaderEnv(v1)] },
    });
    await world.deployment('current', {
      annotations: auto,
      podSpec: { containers: [withReloaderEnv(v2)] },
    });
    await world.setSecret('db', { password: 'p2' });
    const before = {
      stale: await world.template('Deployment', 'stale'),
      current: await world.template('Deployment', 'current'),
    };

    const first = await world.pass('--reload-strategy=env-vars');
    assert.deepEqual(reloaded(first), ['Deployment/stale']);
    assert.notEqual(await world.template('Deployment', 'stale'), before.stale, 'stale rolled');
    assert.equal(await world.template('Deployment', 'current'), before.current, 'current did not');
    await assertNotWritten(world, [v1, v2]);
  });

  it('a pass with a state does not read Reloader records: only changes it sees roll', async (t) => {
    const world = await World.create(t);
    await world.configMap('other', { v: '1' });
    await world.pass(); // a state exists from now on
    await world.configMap('app', { v: '2' });
    await world.deployment('stale', {
      annotations: auto,
      templateAnnotations: {
        'reloader.stakater.com/last-reloaded-from': lastReloadedFrom(world, 'app', sha1('v=1')),
      },
      podSpec: { containers: [container('app', { configMaps: ['app'] })] },
    });
    await world.setConfigMap('other', { v: '2' });
    assert.deepEqual(reloaded(await world.pass()), [], 'app was created, not changed');
  });
});
