// What the Dockerfile builds, without Docker: production dependencies only and the bundled CLI,
// in a folder made read-only, run with the image's node flags and environment, must run a pass
// against the cluster.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { imageRuntime } from '../scripts/image-runtime.js';
import { container, World } from './harness.js';

const root = fileURLToPath(new URL('..', import.meta.url));

async function run(
  file: string,
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd, timeout: 300_000, env: { ...process.env, NODE_ENV: 'production', ...env } },
      (err, stdout, stderr) => {
        resolve({ code: err ? 1 : 0, out: stdout + stderr });
      },
    );
  });
}

describe('production build (the Dockerfile, without Docker)', () => {
  it('runs from a read-only folder holding only production dependencies and the bundle', async (t) => {
    const app = mkdtempSync(join(tmpdir(), 'polling-reloader-image-'));
    t.after(async () => {
      await run('chmod', ['-R', 'u+w', app], tmpdir());
      rmSync(app, { recursive: true, force: true });
    });
    copyFileSync(join(root, 'package.json'), join(app, 'package.json'));
    copyFileSync(join(root, 'package-lock.json'), join(app, 'package-lock.json'));
    const install = await run(
      'npm',
      ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'],
      app,
    );
    assert.equal(install.code, 0, install.out);
    const bundle = join(app, 'dist', 'polling-reloader.js');
    const build = await run(process.execPath, ['scripts/bundle.ts', bundle], root);
    assert.equal(build.code, 0, build.out);
    const chmod = await run('chmod', ['-R', 'a-w', app], tmpdir());
    assert.equal(chmod.code, 0, chmod.out);

    const world = await World.create(t);
    await world.configMap('app', { v: '1' });
    await world.deployment('web', {
      annotations: { 'reloader.stakater.com/auto': 'true' },
      podSpec: { containers: [container('app', { configMaps: ['app'] })] },
    });
    const { nodeFlags, env } = imageRuntime();
    const cli = [...nodeFlags, 'dist/polling-reloader.js'];
    const help = await run(process.execPath, [...cli, 'run', '--help'], app, env);
    assert.equal(help.code, 0, help.out);
    const pass = await run(
      process.execPath,
      [
        ...cli,
        'run',
        '--dry-run',
        `--kubeconfig=${process.env.TEST_KUBECONFIG ?? ''}`,
        `--namespaces=${world.namespace}`,
        `--lease-namespace=${world.namespace}`,
        `--state=${world.statePath}`,
      ],
      app,
      env,
    );
    assert.equal(pass.code, 0, pass.out);
    assert.match(pass.out, /1 workloads listed \(all in scope\)/);
  });
});
