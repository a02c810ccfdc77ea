// Bundles the CLI and its runtime dependencies into one ES module, dist/polling-reloader.js, so
// that a CronJob run loads one file instead of hundreds (the cold start of `run --once`).
// Usage: node scripts/bundle.ts [outfile]
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

const outfile = process.argv[2] ?? 'dist/polling-reloader.js';
// dist/ holds the bundle alone: nothing left from an older build runs by mistake.
if (!process.argv[2]) rmSync('dist', { recursive: true, force: true });

await build({
  entryPoints: ['src/cli.ts'],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  minifySyntax: true,
  legalComments: 'linked',
  // Loaded only for a kubeconfig with a legacy auth-provider; it stays in node_modules.
  external: ['@kubernetes/client-node'],
  // The CommonJS dependencies call require() for Node's own modules.
  banner: {
    js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
