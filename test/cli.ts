import { execFile, spawn, type ChildProcess } from 'node:child_process';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * The long-running mode serves /metrics on :9090 by default; tests run several instances at once,
 * so each listens on a free loopback port instead unless the test says otherwise.
 */
const testEnv = { POLLING_RELOADER_METRICS_ADDRESS: '127.0.0.1:0' };

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a user would, in its own process. */
export async function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', ...args],
      {
        cwd: root,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...testEnv, ...env },
        timeout: 120_000,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/**
 * Starts the CLI in its own process (with `env` added to this one's); the test kills it by its id
 * when it ends.
 */
export function startCli(
  t: TestContext,
  args: string[],
  env: Record<string, string> = {},
): ChildProcess & { output: () => string; exited: Promise<number> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...testEnv, ...env },
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number>((resolve) =>
    child.on('exit', (code) => {
      resolve(code ?? 1);
    }),
  );
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return Object.assign(child, { output: () => output, exited });
}
