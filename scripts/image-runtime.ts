// How the image starts Node.js, read from the Dockerfile: the flags its ENTRYPOINT gives node
// before the bundle, and the environment its last stage sets. The benchmark and the image test
// run the bundle the same way, so that what they measure and check is what a pod runs.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface ImageRuntime {
  nodeFlags: string[];
  env: Record<string, string>;
}

const dockerfile = fileURLToPath(new URL('../Dockerfile', import.meta.url));

export function imageRuntime(path = dockerfile): ImageRuntime {
  const text = readFileSync(path, 'utf8');
  const stage = text.slice(text.lastIndexOf('\nFROM '));
  const fail = (what: string): never => {
    throw new Error(`${path}: ${what}`);
  };
  const env: Record<string, string> = {};
  for (const [, pairs = ''] of stage.matchAll(/^ENV (.+)$/gm)) {
    for (const pair of pairs.trim().split(/\s+/)) {
      const [, name, value] = /^([A-Za-z_]\w*)=([^"'\s]*)$/.exec(pair) ?? fail(`ENV ${pair}`);
      env[name ?? ''] = value ?? '';
    }
  }
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(stage)?.[1] ?? fail('no ENTRYPOINT');
  const argv = JSON.parse(entrypoint) as string[];
  const bundle = argv.findIndex((arg) => arg.endsWith('/polling-reloader.js'));
  if (bundle < 1) fail('the ENTRYPOINT does not run the bundle with node');
  return { nodeFlags: argv.slice(1, bundle), env };
}
