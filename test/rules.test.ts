// SPEC §2: which change triggers which workload. Each test records a baseline, makes one change,
// runs a pass, and checks every workload's pod template: changed where it must, untouched elsewhere.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { container, core, reloaded, World, type WorkloadSpec } from './harness.js';

const auto = { 'reloader.stakater.com/auto': 'true' };

/** Creates the workloads, records a baseline, runs `change`, passes, and checks each template. */
async function expectReloads(
  world: World,
  workloads: Record<string, WorkloadSpec>,
  change: () => Promise<void>,
  expected: string[],
  ...flags: string[]
): Promise<string[]> {
  for (const [name, spec] of Object.entries(workloads)) await world.deployment(name, spec);
  const baseline = await world.pass(...flags);
  assert.deepEqual(reloaded(baseline), [], 'the baseline pass restarts nothing');
  const before = new Map<string, string>();
  for (const name of Object.keys(workloads))
    before.set(name, await world.template('Deployment', name));
  await change();
  const report = await world.pass(...flags);
  assert.deepEqual(reloaded(report), expected.map((n) => `Deployment/${n}`).sort());
  for (const name of Object.keys(workloads)) {
    const changed = (await world.template('Deployment', name)) !== before.get(name);
    assert.equal(
      changed,
      expected.includes(name),
      `template of ${name} ${changed ? 'changed' : 'unchanged'}`,
    );
  }
  return report.plan.warnings;
}

const uses = (configMaps: string[], secrets: string[] = []) => ({
  containers: [container('app', { configMaps, secrets })],
});

describe('annotations (SPEC §2)', () => {
  it('auto, typed auto, opt-outs, exclusions, and annotations on the pod template', async (t) => {
    const world = await World.create(t);
    await world.configMap('app', { v: '1' });
    await world.configMap('other', { v: '1' });
    await world.secret('creds', { password: 'p1' });
    await expectReloads(
      world,
      {
        'auto-true': { annotations: auto, podSpec: uses(['app']) },
        'auto-false': {
          annotations: { 'reloader.stakater.com/auto': 'false' },
          podSpec: uses(['app']),
        },
        'no-annotation': { podSpec: uses(['app']) },
        unreferenced: { annotations: auto, podSpec: uses(['other']) },
        'typed-configmap': {
          annotations: { 'configmap.reloader.stakater.com/auto': 'true' },
          podSpec: uses(['app']),
        },
        'typed-secret': {
          annotations: { 'secret.reloader.stakater.com/auto': 'true' },
          podSpec: uses(['app'], ['creds']),
        },
        excluded: {
          annotations: { ...auto, 'configmaps.exclude.reloader.stakater.com/reload': 'x, app' },
          podSpec: uses(['app']),
        },
        'on-template': { templateAnnotations: auto, podSpec: uses(['app']) },
      },
      () => world.setConfigMap('app', { v: '2' }),
      ['auto-true', 'typed-configmap', 'on-template'],
    );
  });

  it('--auto-reload-all reloads every referencing workload except those that opt out', async (t) => {
    const world = await World.create(t);
    await world.configMap('app', { v: '1' });
    await expectReloads(
      world,
      {
        plain: { podSpec: uses(['app']) },
        'opted-out': {
          annotations: { 'reloader.stakater.com/auto': 'false' },
          podSpec: uses(['app']),
        },
        'typed-opt-out': {
          annotations: { 'configmap.reloader.stakater.com/auto': 'false' },
          podSpec: uses(['app']),
        },
        unreferenced: { podSpec: uses([]) },
      },
      () => world.setConfigMap('app', { v: '2' }),
      ['plain'],
      '--auto-reload-all',
    );
  });

  it('reload lists match anchored regular expressions, even without a reference; exclusion wins', async (t) => {
    const world = await World.create(t);
    await world.configMap('db-config', { v: '1' });
    await world.secret('token', { t: '1' });
    await expectReloads(
      world,
      {
        'by-pattern': {
          annotations: { 'configmap.reloader.stakater.com/reload': 'cache, db-.*' },
          podSpec: uses([]),
        },
        'anchored-miss': {
          annotations: { 'configmap.reloader.stakater.com/reload': 'db' },
          podSpec: uses([]),
        },
        'excluded-first': {
          annotations: {
            'configmap.reloader.stakater.com/reload': 'db-.*',
            'configmaps.exclude.reloader.stakater.com/reload': 'db-config',
          },
          podSpec: uses([]),
        },
        'secret-list': {
          annotations: { 'secret.reloader.stakater.com/reload': 'token' },
          podSpec: uses([]),
        },
      },
      async () => {
        await world.setConfigMap('db-config', { v: '2' });
      },
      ['by-pattern'],
    );
    await world.setSecret('token', { t: '2' });
    assert.deepEqual(reloaded(await world.pass()), ['Deployment/secret-list']);
  });

  // With a backtracking engine, matching (a+)+ against the 42-character name takes 2^40 steps: the
  // pass would never end. Go's regexp (RE2), and re2js here, match in time linear in the name.
  it('a reload-list pattern that backtracks catastrophically neither stalls the pass nor blocks other reloads', async (t) => {
    const world = await World.create(t);
    const adversarial = `${'a'.repeat(40)}-x`;
    await world.configMap(adversarial, { v: '1' });
    await world.configMap('a'.repeat(40), { v: '1' });
    await world.configMap('app', { v: '1' });
    await world.configMap('app-config', { v: '1' });
    await expectReloads(
      world,
      {
        nested: {
          annotations: { 'configmap.reloader.stakater.com/reload': '(a+)+' },
          podSpec: uses([]),
        },
        overlapping: {
          annotations: { 'configmap.reloader.stakater.com/reload': '(x+x+)+y, (a|aa)+' },
          podSpec: uses([]),
        },
        web: { annotations: auto, podSpec: uses(['app']) },
        'by-pattern': {
          annotations: { 'configmap.reloader.stakater.com/reload': 'app-.*' },
          podSpec: uses([]),
        },
      },
      async () => {
        await world.setConfigMap(adversarial, { v: '2' });
        await world.setConfigMap('app', { v: '2' });
        await world.setConfigMap('app-config', { v: '2' });
      },
      ['by-pattern', 'web'],
    );
    await world.setConfigMap('a'.repeat(40), { v: '2' });
    assert.deepEqual(
      reloaded(await world.pass()),
      ['Deployment/nested', 'Deployment/overlapping'],
      'the same patterns still match the names they describe',
    );
  });

  it('a reload-list entry that Go (RE2) refuses is ignored with a warning; the pass goes on', async (t) => {
    const world = await World.create(t);
    await world.configMap('app', { v: '1' });
    await world.configMap('aa', { v: '1' });
    const warnings = await expectReloads(
      world,
      {
        backreference: {
          annotations: { ...auto, 'configmap.reloader.stakater.com/reload': '(a)\\1' },
          podSpec: uses(['app']),
        },
        lookahead: {
          annotations: { 'configmap.reloader.stakater.com/reload': '(?=a)aa' },
          podSpec: uses([]),
        },
        fine: { annotations: auto, podSpec: uses(['app']) },
      },
      async () => {
        await world.setConfigMap('app', { v: '2' });
        await world.setConfigMap('aa', { v: '2' });
      },
      ['backreference', 'fine'],
    );
    for (const name of ['backreference', 'lookahead']) {
      assert.ok(
        warnings.some(
          (w) =>
            w.includes(`${world.namespace}/Deployment/${name}`) &&
            w.includes('configmap.reloader.stakater.com/reload'),
        ),
        `a warning names ${name} and the annotation: ${warnings.join(' | ')}`,
      );
    }
  });

  it('search reloads for referenced objects that carry match, and only those', async (t) => {
    const world = await World.create(t);
    await world.configMap('matched', { v: '1' }, { 'reloader.stakater.com/match': 'true' });
    await world.configMap('plain', { v: '1' });
    await world.configMap(
      'matched-unreferenced',
      { v: '1' },
      { 'reloader.stakater.com/match': 'true' },
    );
    const search = { 'reloader.stakater.com/search': 'true' };
    await expectReloads(
      world,
      {
        searcher: { annotations: search, podSpec: uses(['matched', 'plain']) },
        'not-searching': { podSpec: uses(['matched']) },
      },
      async () => {
        await world.setConfigMap('matched', { v: '2' });
        await world.setConfigMap('matched-unreferenced', { v: '2' });
      },
      ['searcher'],
    );
    await world.setConfigMap('plain', { v: '2' });
    assert.deepEqual(
      reloaded(await world.pass()),
      [],
      'a referenced object without match does not trigger search',
    );
  });

  it('an object annotated ignore never triggers', async (t) => {
    const world = await World.create(t);
    await world.configMap('ignored', { v: '1' }, { 'reloader.stakater.com/ignore': 'true' });
    await expectReloads(
      world,
      {
        listed: {
          annotations: { ...auto, 'configmap.reloader.stakater.com/reload': 'ignored' },
          podSpec: uses(['ignored']),
        },
      },
      () => world.setConfigMap('ignored', { v: '2' }),
      [],
    );
  });

  it('finds references in env, envFrom, volumes, projected volumes and init containers', async (t) => {
    const world = await World.create(t);
    await world.configMap('cm', { k: '1' });
    await world.secret('sec', { k: '1' });
    const app = { name: 'app', image: 'registry.invalid/app:1' };
    const specs: Record<string, WorkloadSpec> = {
      'env-cm': {
        annotations: auto,
        podSpec: {
          containers: [
            {
              ...app,
              env: [{ name: 'K', valueFrom: { configMapKeyRef: { name: 'cm', key: 'k' } } }],
            },
          ],
        },
      },
      'env-secret': {
        annotations: auto,
        podSpec: {
          containers: [
            {
              ...app,
              env: [{ name: 'K', valueFrom: { secretKeyRef: { name: 'sec', key: 'k' } } }],
            },
          ],
        },
      },
      'envfrom-cm': { annotations: auto, podSpec: uses(['cm']) },
      'envfrom-secret': { annotations: auto, podSpec: uses([], ['sec']) },
      'volume-cm': {
        annotations: auto,
        podSpec: { containers: [app], volumes: [{ name: 'v', configMap: { name: 'cm' } }] },
      },
      'volume-secret': {
        annotations: auto,
        podSpec: { containers: [app], volumes: [{ name: 'v', secret: { secretName: 'sec' } }] },
      },
      projected: {
        annotations: auto,
        podSpec: {
          containers: [app],
          volumes: [
            {
              name: 'v',
              projected: { sources: [{ configMap: { name: 'cm' } }, { secret: { name: 'sec' } }] },
            },
          ],
        },
      },
      'init-container': {
        annotations: auto,
        podSpec: { initContainers: [container('init', { configMaps: ['cm'] })], containers: [app] },
      },
      'no-reference': { annotations: auto, podSpec: { containers: [app] } },
    };
    await expectReloads(
      world,
      specs,
      async () => {
        await world.setConfigMap('cm', { k: '2' });
        await world.setSecret('sec', { k: '2' });
      },
      Object.keys(specs).filter((n) => n !== 'no-reference'),
    );
  });

  it('a malformed annotation is reported with the workload and ignored; the pass goes on', async (t) => {
    const world = await World.create(t);
    await world.configMap('app', { v: '1' });
    const warnings = await expectReloads(
      world,
      {
        'bad-regex': {
          annotations: { ...auto, 'configmap.reloader.stakater.com/reload': '([' },
          podSpec: uses(['app']),
        },
        'bad-duration': {
          annotations: { ...auto, 'deployment.reloader.stakater.com/pause-period': 'soon' },
          podSpec: uses(['app']),
        },
        'bad-boolean': {
          annotations: { 'reloader.stakater.com/auto': 'yes' },
          podSpec: uses(['app']),
        },
        fine: { annotations: auto, podSpec: uses(['app']) },
      },
      () => world.setConfigMap('app', { v: '2' }),
      ['bad-regex', 'bad-duration', 'fine'],
    );
    const ns = world.namespace;
    const expected = [
      [`${ns}/Deployment/bad-regex`, 'configmap.reloader.stakater.com/reload'],
      [`${ns}/Deployment/bad-duration`, 'deployment.reloader.stakater.com/pause-period'],
      [`${ns}/Deployment/bad-boolean`, 'reloader.stakater.com/auto'],
    ];
    for (const [workload, annotation] of expected) {
      assert.ok(
        warnings.some((w) => w.includes(workload ?? '') && w.includes(annotation ?? '')),
        `a warning names ${workload} and ${annotation}: ${warnings.join(' | ')}`,
      );
    }
    assert.equal(warnings.length, 3, 'one warning per malformed annotation per pass');
  });

  it('pause-period: the first change rolls, later ones wait while the rollout is paused, then resume', async (t) => {
    const world = await World.create(t);
    await world.configMap('app', { v: '1' });
    await world.deployment('paused', {
      annotations: { ...auto, 'deployment.reloader.stakater.com/pause-period': '4s' },
      podSpec: uses(['app']),
    });
    await world.pass();
    await world.setConfigMap('app', { v: '2' });
    await world.pass();
    let d = await world.read('Deployment', 'paused');
    assert.notEqual(d.spec?.paused, true, 'the first reload rolls at once');

    await world.setConfigMap('app', { v: '3' });
    const held = await world.template('Deployment', 'paused');
    await world.pass();
    d = await world.read('Deployment', 'paused');
    assert.equal(d.spec?.paused, true, 'a change inside the period pauses the rollout');
    assert.ok(
      d.metadata?.annotations?.['deployment.reloader.stakater.com/paused-at'],
      'paused-at records when',
    );
    assert.notEqual(
      await world.template('Deployment', 'paused'),
      held,
      'the template carries the new config',
    );

    await world.setConfigMap('app', { v: '4' });
    await world.pass();
    assert.equal(
      (await world.read('Deployment', 'paused')).spec?.paused,
      true,
      'still paused inside the period',
    );

    await new Promise((resolve) => setTimeout(resolve, 4500));
    await world.pass();
    d = await world.read('Deployment', 'paused');
    assert.notEqual(d.spec?.paused, true, 'a later pass resumes the rollout');
    assert.equal(
      d.metadata?.annotations?.['deployment.reloader.stakater.com/paused-at'],
      undefined,
    );
  });
});

describe('scope flags', () => {
  const change = async (world: World): Promise<void> => {
    await world.configMap('app', { v: '1' }, undefined, { team: 'a' });
    await world.secret('creds', { p: '1' });
    await world.deployment('web', { annotations: auto, podSpec: uses(['app'], ['creds']) });
  };

  for (const [title, flags, expected] of [
    ['--namespaces naming another namespace', ['--namespaces=elsewhere'], false],
    [
      '--namespaces-to-ignore naming this namespace',
      ['--namespaces=NS', '--namespaces-to-ignore=NS'],
      false,
    ],
    [
      '--resource-label-selector that the ConfigMap does not match',
      ['--resource-label-selector=team:b'],
      false,
    ],
    [
      '--resource-label-selector that the ConfigMap matches',
      ['--resource-label-selector=team=a'],
      true,
    ],
    ['--resources-to-ignore=configMaps', ['--resources-to-ignore=configMaps'], false],
    ['--ignored-workload-types=deployments', ['--ignored-workload-types=deployments'], false],
  ] as const) {
    it(`${title}: ${expected ? 'reloads' : 'leaves the workload alone'}`, async (t) => {
      const world = await World.create(t);
      await change(world);
      const args = flags.map((f) => f.replace('NS', world.namespace));
      await world.pass(...args);
      const before = await world.template('Deployment', 'web');
      await world.setConfigMap('app', { v: '2' });
      await world.pass(...args);
      assert.equal((await world.template('Deployment', 'web')) !== before, expected);
    });
  }

  it('--namespace-selector: only namespaces whose labels match', async (t) => {
    const world = await World.create(t);
    await change(world);
    await core.patchNamespace({
      name: world.namespace,
      body: [{ op: 'add', path: '/metadata/labels/reload', value: 'yes' }],
    });
    for (const [selector, expected] of [
      ['reload:no', false],
      ['reload:yes', true],
    ] as const) {
      const args = [`--namespace-selector=${selector}`, `--state=${world.statePath}.${selector}`];
      await world.pass(...args);
      const before = await world.template('Deployment', 'web');
      await world.setConfigMap('app', { v: selector });
      await world.pass(...args);
      assert.equal((await world.template('Deployment', 'web')) !== before, expected, selector);
    }
  });
});
