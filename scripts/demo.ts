// The main job for a newcomer: deploy the demo app, run a pass, change its ConfigMap, run a pass,
// and show the decision, the patch and the pods being replaced. Against the cluster of --kubeconfig
// or $KUBECONFIG when given; otherwise against the local test control plane, which it starts and
// stops (keep it with --keep).
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  loadAllYaml,
  PatchStrategy,
  type KubernetesObject,
  type V1Pod,
} from '@kubernetes/client-node';

const root = fileURLToPath(new URL('..', import.meta.url));
const namespace = 'reloader-demo';
const statePath = join(root, 'state', 'demo.json');
const args = process.argv.slice(2);
const keep = args.includes('--keep');
const given =
  args.find((a) => a.startsWith('--kubeconfig='))?.split('=')[1] ?? process.env.KUBECONFIG;

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

function cluster(command: string): string {
  const out = execFileSync(join(root, 'scripts', 'cluster'), [command], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return out.trim().split('\n').pop() ?? '';
}

function reloader(kubeconfig: string, ...flags: string[]): string {
  const argv = [
    'run',
    '--once',
    `--namespaces=${namespace}`,
    `--lease-namespace=${namespace}`,
    `--state=${statePath}`,
    ...flags,
  ];
  say(`\n  $ polling-reloader ${argv.join(' ')}`);
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(root, 'src', 'cli.ts'), ...argv],
    {
      encoding: 'utf8',
      env: { ...process.env, KUBECONFIG: kubeconfig },
    },
  );
  const output = `${result.stdout}${result.stderr}`.trimEnd();
  say(output.replace(/^/gm, '  | '));
  if (result.status !== 0)
    throw new Error(`polling-reloader exited with ${result.status ?? 'a signal'}`);
  return output;
}

/** Whether a local control plane already runs (then the demo leaves it running). */
function running(): boolean {
  try {
    execFileSync(join(root, 'scripts', 'cluster'), ['kubeconfig'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function apply(kc: KubeConfig): Promise<void> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  for (const file of ['namespace.yaml', 'config.yaml', 'app.yaml']) {
    for (const obj of loadAllYaml(
      readFileSync(join(root, 'cronjob', 'demo', file), 'utf8'),
    ) as KubernetesObject[]) {
      await client.patch(
        obj,
        undefined,
        undefined,
        'polling-reloader-demo',
        true,
        PatchStrategy.ServerSideApply,
      );
      say(`  applied ${obj.kind ?? ''} ${obj.metadata?.name ?? ''}`);
    }
  }
}

async function runningPods(core: CoreV1Api): Promise<V1Pod[]> {
  const pods = await core.listNamespacedPod({ namespace, labelSelector: 'app=demo-web' });
  return pods.items.filter((p) => !p.metadata?.deletionTimestamp);
}

/** Waits until the Deployment has rolled out completely, and returns its pods. */
async function rolledOut(kc: KubeConfig, core: CoreV1Api): Promise<string[]> {
  const apps = kc.makeApiClient(AppsV1Api);
  for (let i = 0; i < 240; i++) {
    const d = await apps.readNamespacedDeployment({ name: 'demo-web', namespace });
    const pods = await runningPods(core);
    const want = d.spec?.replicas ?? 1;
    const done =
      d.status?.observedGeneration === d.metadata?.generation &&
      d.status?.updatedReplicas === want &&
      d.status.replicas === want &&
      pods.length === want &&
      pods.every((p) => p.status?.phase === 'Running');
    if (done) return pods.map((p) => p.metadata?.name ?? '').sort();
    await sleep(500);
  }
  throw new Error(
    'the demo Deployment did not roll out within 2 minutes (on a real cluster: can it pull python:3.13-alpine?)',
  );
}

/** The cluster given, else the local control plane (started here unless it already runs). */
function connect(): { kubeconfig: string; started: boolean } {
  if (given) {
    say(`cluster: the one in ${given}`);
    return { kubeconfig: given, started: false };
  }
  say('cluster: none given (--kubeconfig or KUBECONFIG): the local test control plane');
  const started = !running();
  return { kubeconfig: cluster('up'), started };
}

async function changeColor(core: CoreV1Api): Promise<void> {
  const cm = await core.readNamespacedConfigMap({ name: 'demo-config', namespace });
  const from = cm.data?.APP_COLOR ?? '';
  const to = from === 'darkorange' ? 'steelblue' : 'darkorange';
  say(`\n3. Change ConfigMap demo-config: APP_COLOR ${from} -> ${to}`);
  const body = [{ op: 'replace', path: '/data/APP_COLOR', value: to }];
  await core.patchNamespacedConfigMap({ name: 'demo-config', namespace, body });
}

async function showRecord(kc: KubeConfig): Promise<void> {
  const apps = kc.makeApiClient(AppsV1Api);
  const d = await apps.readNamespacedDeployment({ name: 'demo-web', namespace });
  const from = d.spec?.template.metadata?.annotations?.['reloader.stakater.com/last-reloaded-from'];
  say(
    `  pod template annotation reloader.stakater.com/last-reloaded-from:\n    ${from ?? '(missing!)'}`,
  );
}

async function showRollout(kc: KubeConfig, core: CoreV1Api, before: string[]): Promise<void> {
  const after = await rolledOut(kc, core);
  const gone = before.filter((p) => !after.includes(p));
  say(`  old pods gone:     ${gone.join(', ')}`);
  say(`  new pods Running:  ${after.join(', ')}`);
  if (gone.length !== before.length) throw new Error('the old pods were not all replaced');
}

async function demo(kubeconfig: string): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);

  say('\n1. Deploy the demo app from cronjob/demo (annotated reloader.stakater.com/auto: "true")');
  await apply(kc);
  rmSync(statePath, { force: true });
  const before = await rolledOut(kc, core);
  say(`  pods Running: ${before.join(', ')}`);

  say('\n2. First pass: no observed state yet, so it records a baseline and restarts nothing');
  reloader(kubeconfig);

  await changeColor(core);

  say('\n4. What the next pass will do, and why (--dry-run changes nothing)');
  reloader(kubeconfig, '--dry-run');

  say('\n5. Second pass: one patch of the pod template');
  reloader(kubeconfig);
  await showRecord(kc);

  say('\n6. Kubernetes performs one rolling update');
  await showRollout(kc, core, before);

  say('\n7. A third pass has nothing left to do');
  reloader(kubeconfig);
  say(
    `\nSee the page: kubectl -n ${namespace} port-forward service/demo-web 8080:80, then http://127.0.0.1:8080`,
  );
  if (!given)
    say(
      '(on the local control plane the pods run on a kwok fake node: the page needs a real cluster)',
    );
}

async function main(): Promise<void> {
  say('polling-reloader demo');
  const { kubeconfig, started } = connect();
  try {
    await demo(kubeconfig);
  } finally {
    if (started && !keep) {
      say('\nStopping the local control plane (keep it with: npm run demo -- --keep)');
      cluster('down');
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo: error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
