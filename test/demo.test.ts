// The README's main job: `npm run demo` against a given cluster deploys cronjob/demo, reloads it
// once and sees its pods replaced.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { apps } from './harness.js';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('demo', () => {
  it('rolls the demo app once after its ConfigMap changes', async () => {
    const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'scripts/demo.ts'],
        {
          cwd: root,
          env: { ...process.env, KUBECONFIG: process.env.TEST_KUBECONFIG ?? '' },
          timeout: 240_000,
        },
        (err, stdout, stderr) => {
          resolve({ code: err ? 1 : 0, output: stdout + stderr });
        },
      );
    });
    assert.equal(code, 0, output);
    assert.match(output, /old pods gone: +demo-web-/);
    const d = await apps.readNamespacedDeployment({ name: 'demo-web', namespace: 'reloader-demo' });
    const from = JSON.parse(
      d.spec?.template.metadata?.annotations?.['reloader.stakater.com/last-reloaded-from'] ?? '{}',
    ) as { name?: string };
    assert.equal(from.name, 'demo-config');
  });
});
