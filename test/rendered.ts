// What the manifest and chart tests share: running kubectl and helm, and comparing the RBAC a
// rendering grants with what the program checks for the flags that rendering passes it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  loadAllYaml,
  type KubeConfig,
  type KubernetesObject,
  type V1ClusterRole,
  type V1CronJob,
  type V1Deployment,
  type V1PodSpec,
  type V1PolicyRule,
} from '@kubernetes/client-node';
import { neededPermissions } from '../src/permissions.js';
import { parseRunFlags, passOptions } from '../src/options.js';
import { core, kc } from './harness.js';
import { tokenKubeConfig } from './kube.js';

export const root = fileURLToPath(new URL('..', import.meta.url));
const adminKubeconfig = process.env.TEST_KUBECONFIG ?? '';

/** Runs a program in the repository, with `input` on its stdin; fails with its stderr. */
export async function run(file: string, args: string[], input = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { cwd: root, maxBuffer: 16 * 1024 * 1024, timeout: 900_000 },
      (err, stdout, stderr) => {
        if (err) {
          const why = stderr.trim() || err.message;
          reject(new Error(`${basename(file)} ${args.join(' ')}: ${why}`));
        } else resolve(stdout);
      },
    );
    child.stdin?.end(input);
  });
}

let kubectlPath: Promise<string> | undefined;

/** The kubectl of the test control plane: `scripts/cluster build` prints its folder last. */
async function findKubectl(): Promise<string> {
  const assets = process.env.KUBEBUILDER_ASSETS;
  if (assets && existsSync(join(assets, 'kubectl'))) return join(assets, 'kubectl');
  const out = await run(join(root, 'scripts/cluster'), ['build']);
  const folder = out.trim().split('\n').at(-1) ?? '';
  const path = join(folder, 'kubectl');
  assert.ok(existsSync(path), `no kubectl in ${folder}`);
  return path;
}

/** kubectl as the test control plane's admin. */
export async function kubectl(args: string[], input = ''): Promise<string> {
  kubectlPath ??= findKubectl();
  return run(await kubectlPath, [`--kubeconfig=${adminKubeconfig}`, ...args], input);
}

/** The objects of a rendering, in order. */
export function objectsOf(yaml: string): KubernetesObject[] {
  return (loadAllYaml(yaml) as (KubernetesObject | null)[]).filter(
    (o): o is KubernetesObject => o !== null,
  );
}

/** Applies a rendering with a server-side dry run and asserts the API server took every object. */
export async function assertServerAccepts(yaml: string, what: string): Promise<void> {
  const objects = objectsOf(yaml);
  assert.ok(objects.length > 0, `${what} renders objects`);
  const out = await kubectl(['apply', '--dry-run=server', '-f', '-'], yaml);
  for (const obj of objects) {
    const name = obj.metadata?.name ?? '?';
    assert.match(
      out,
      new RegExp(`/${name} .*\\(server dry run\\)`),
      `${what}: ${obj.kind}/${name}`,
    );
  }
}

/** Applies the rendered objects for real, and deletes them when the test ends. */
export async function applyForReal(t: TestContext, yaml: string): Promise<void> {
  t.after(async () => {
    await kubectl(['delete', '--ignore-not-found', '--wait=false', '-f', '-'], yaml);
  });
  await kubectl(['apply', '-f', '-'], yaml);
}

/** A token of a ServiceAccount, and a kubeconfig file that uses it. */
export async function serviceAccountKubeConfig(
  t: TestContext,
  name: string,
  namespace: string,
): Promise<{ config: KubeConfig; path: string }> {
  const request = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 600 } },
  });
  const token = request.status?.token;
  assert.ok(token, 'TokenRequest returned a token');
  const config = tokenKubeConfig(kc, token);
  const dir = mkdtempSync(join(tmpdir(), 'polling-reloader-sa-'));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const path = join(dir, 'kubeconfig');
  writeFileSync(path, config.exportConfig(), { mode: 0o600 });
  return { config, path };
}

/** Every `NAMESPACE verb group/resource` the rendered Roles and ClusterRoles grant ('*': all). */
export function granted(objects: KubernetesObject[]): string[] {
  const out = new Set<string>();
  for (const obj of objects) {
    if (obj.kind !== 'Role' && obj.kind !== 'ClusterRole') continue;
    const where = obj.kind === 'Role' ? (obj.metadata?.namespace ?? '?') : '*';
    for (const rule of (obj as V1ClusterRole).rules ?? []) {
      for (const entry of expand(rule)) out.add(`${where} ${entry}`);
    }
  }
  return [...out].sort();
}

function expand(rule: V1PolicyRule): string[] {
  const out: string[] = [];
  for (const group of rule.apiGroups ?? []) {
    for (const resource of rule.resources ?? []) {
      for (const verb of rule.verbs) out.push(`${verb} ${group}/${resource}`);
    }
  }
  return out;
}

/**
 * What the program checks before a pass with these flags and environment (src/permissions.ts),
 * plus what it may call without checking: Argo Rollouts (listed only where the API exists) and
 * the state ConfigMaps.
 */
export function expectedGrants(
  args: string[],
  where: { rollouts: string[]; stateNamespace: string },
  env: NodeJS.ProcessEnv = {},
): string[] {
  const needs = neededPermissions(passOptions(parseRunFlags(args), env));
  const out = new Set(
    needs.map((n) => {
      const resource = n.subresource ? `${n.resource}/${n.subresource}` : n.resource;
      return `${n.namespace ?? '*'} ${n.verb} ${n.group}/${resource}`;
    }),
  );
  for (const namespace of where.rollouts) {
    for (const verb of ['list', 'get', 'patch'])
      out.add(`${namespace} ${verb} argoproj.io/rollouts`);
  }
  for (const verb of ['get', 'create', 'update', 'delete'])
    out.add(`${where.stateNamespace} ${verb} /configmaps`);
  return [...out].sort();
}

/** The pod spec of a rendered CronJob or Deployment. */
export function podSpecOf(obj: KubernetesObject | undefined): V1PodSpec | undefined {
  if (obj?.kind === 'CronJob') return (obj as V1CronJob).spec.jobTemplate.spec?.template.spec;
  if (obj?.kind === 'Deployment') return (obj as V1Deployment).spec?.template.spec;
  return undefined;
}
