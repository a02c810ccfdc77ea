import { existsSync, readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import cron from 'node-cron';
import {
  defaultAnnotationNames,
  parseBoolean,
  parseDuration,
  parseList,
  type AnnotationNames,
} from './annotations.js';
import { workloadKinds, type WorkloadKind } from './model.js';
import type { ListenAddress } from './health.js';
import type { ReloadStrategy } from './patches.js';
import type { PassOptions } from './pass.js';
import type { SourceKind } from './references.js';

/** Every flag can also come from `POLLING_RELOADER_<FLAG_IN_CAPITALS>`. */
export const envPrefix = 'POLLING_RELOADER_';

export function envName(flag: string): string {
  return envPrefix + flag.replace(/^--/, '').replace(/-/g, '_').toUpperCase();
}

const bool = (raw: string): boolean => {
  const parsed = parseBoolean(raw);
  if (!parsed.ok) throw new InvalidArgumentError(parsed.problem);
  return parsed.value;
};

function oneOf<T extends string>(allowed: readonly T[]): (raw: string) => T {
  return (raw) => {
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    throw new InvalidArgumentError(`use one of: ${allowed.join(', ')}`);
  };
}

/** The longest a Node.js timer waits (about 24.8 days). */
const longestTimerMs = 2 ** 31 - 1;

const duration = (raw: string): number => {
  const parsed = parseDuration(raw);
  if (!parsed.ok) throw new InvalidArgumentError(parsed.problem);
  if (parsed.value > longestTimerMs)
    throw new InvalidArgumentError(`"${raw}" is longer than 24 days`);
  return parsed.value;
};

const port = (raw: string): number => {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535)
    throw new InvalidArgumentError('not a port number');
  return value;
};

/** `host:port`, `[v6]:port` or `:port` (every address, as Reloader's `:9090`); empty: off (false). */
export function listenAddress(raw: string): ListenAddress | false {
  if (raw.trim() === '') return false;
  const match = /^(?:\[(?<v6>[^\]]+)\]|(?<host>[^:[\]]*)):(?<port>\d{1,5})$/.exec(raw.trim());
  const { v6, host, port: digits = '' } = match?.groups ?? {};
  if (!match)
    throw new InvalidArgumentError('use host:port, [v6]:port, or :port for every address');
  return { host: v6 ?? (host || undefined), port: port(digits) };
}

const httpUrl = (raw: string): URL => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidArgumentError('not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InvalidArgumentError('not an http:// or https:// URL');
  return url;
};

const cronExpression = (raw: string): string => {
  if (!cron.validate(raw)) {
    throw new InvalidArgumentError(
      'not a cron expression (five fields, or six with seconds first)',
    );
  }
  return raw;
};

/** Reloader's `key:value` selector syntax (`key:*` for "has key"), or a Kubernetes selector. */
export function labelSelector(raw: string): string {
  return selectorTerms(raw).map(selectorTerm).join(',');
}

const labelKey = String.raw`(?:[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?`;
const labelValue = String.raw`(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?`;
const valueList = String.raw`\(\s*${labelValue}(?:\s*,\s*${labelValue})*\s*\)`;
const kubernetesTerm = new RegExp(
  String.raw`^(?:!?${labelKey}|${labelKey}\s*(?:=|==|!=)\s*${labelValue}|${labelKey}\s+(?:in|notin)\s+${valueList})$`,
);
const reloaderTerm = new RegExp(String.raw`^(?<key>${labelKey}):(?<value>\*|${labelValue})$`);

/** The terms of a selector: split at commas, except those inside `in (a,b)`. */
function selectorTerms(raw: string): string[] {
  return (raw.match(/(?:[^,(]|\([^)]*\))+/g) ?? []).map((t) => t.trim()).filter(Boolean);
}

function selectorTerm(term: string): string {
  const reloader = reloaderTerm.exec(term)?.groups;
  if (reloader) {
    const { key = '', value = '' } = reloader;
    return value === '*' ? key : `${key}=${value}`;
  }
  if (kubernetesTerm.test(term)) return term;
  throw new InvalidArgumentError(
    `"${term}" is not a label selector term (key:value, key:*, key=value, key!=value, key in (a,b), key, !key)`,
  );
}

const resourceNames: Record<string, SourceKind> = { configmaps: 'ConfigMap', secrets: 'Secret' };

function resources(raw: string): SourceKind[] {
  return parseList(raw).map((entry) => {
    const kind = resourceNames[entry.toLowerCase()];
    if (!kind) throw new InvalidArgumentError(`"${entry}" is not configMaps or secrets`);
    return kind;
  });
}

const workloadNames: Record<string, WorkloadKind> = {
  deployments: 'Deployment',
  statefulsets: 'StatefulSet',
  daemonsets: 'DaemonSet',
  cronjobs: 'CronJob',
  jobs: 'Job',
  rollouts: 'Rollout',
};

function workloadTypes(raw: string): WorkloadKind[] {
  return parseList(raw).map((entry) => {
    const kind = workloadNames[entry.toLowerCase()];
    if (!kind) {
      throw new InvalidArgumentError(
        `"${entry}" is not one of ${Object.keys(workloadNames).join(', ')}`,
      );
    }
    return kind;
  });
}

/** The namespace the reloader runs in: its pod's, else `default`. */
function ownNamespace(): string {
  const file = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
  if (process.env.POD_NAMESPACE) return process.env.POD_NAMESPACE;
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : 'default';
}

/** Annotation-name flags, as Reloader names them, and the field each overrides. */
const annotationFlags: [string, keyof AnnotationNames][] = [
  ['--auto-annotation', 'auto'],
  ['--configmap-auto-annotation', 'configmapAuto'],
  ['--secret-auto-annotation', 'secretAuto'],
  ['--configmap-annotation', 'configmapReload'],
  ['--secret-annotation', 'secretReload'],
  ['--auto-search-annotation', 'search'],
  ['--search-match-annotation', 'match'],
  ['--configmap-exclude-annotation', 'configmapExclude'],
  ['--secret-exclude-annotation', 'secretExclude'],
  ['--ignore-annotation', 'ignore'],
  ['--pause-deployment-annotation', 'pausePeriod'],
  ['--pause-deployment-time-annotation', 'pausedAt'],
];

function flag(spec: string, description: string): Option {
  const option = new Option(spec, description);
  return option.env(envName(option.long ?? spec));
}

/** Commander's own errors, worded like the program's: `polling-reloader: error: …`. */
export const errorOutput = {
  outputError: (text: string, write: (text: string) => void): void => {
    write(`polling-reloader: ${text}`);
  },
};

/** The `run` command with all its flags; `action` receives the parsed flags. */
export function runCommand(action: (flags: RunFlags) => Promise<void>): Command {
  const cmd = new Command('run')
    .description('poll ConfigMaps and Secrets and roll the workloads that use them')
    .addHelpText(
      'after',
      `\nEvery flag can also be set with the environment variable shown beside it (env: ...).`,
    )
    .action(action)
    .configureOutput(errorOutput);
  return addRunOptions(cmd);
}

/** Parses `run`'s arguments the way the CLI does, for callers that run a pass themselves. */
export function parseRunFlags(argv: string[]): RunFlags {
  let parsed: RunFlags | undefined;
  const cmd = runCommand((flags) => {
    parsed = flags;
    return Promise.resolve();
  }).exitOverride();
  cmd.parse(argv, { from: 'user' });
  if (!parsed) throw new Error('run flags were not parsed');
  return parsed;
}

/** Adds every flag of `run` to a command. */
export function addRunOptions(cmd: Command): Command {
  const options = [
    flag('--once [bool]', 'run one pass, then exit (the CronJob mode)')
      .argParser(bool)
      .default(false),
    flag('--dry-run [bool]', 'print the plan and why; change nothing in the cluster or the state')
      .argParser(bool)
      .default(false),
    flag(
      '--interval <duration>',
      'a pass starts every this long in the long-running mode (10s, 1m)',
    )
      .argParser(duration)
      .default(60_000, '1m'),
    flag('--pass-timeout <duration>', 'a pass makes no API call past this; /live fails after it')
      .argParser(duration)
      .default(300_000, '5m'),
    flag(
      '--schedule <cron>',
      'run passes on this cron schedule instead (seconds field optional)',
    ).argParser(cronExpression),
    flag(
      '--health-port <port>',
      'serve /live and /ready on this port in the long-running mode (0: off)',
    )
      .argParser(port)
      .default(0),
    flag('--health-address <address>', 'address for --health-port (0.0.0.0 in a pod)').default(
      '127.0.0.1',
    ),
    flag(
      '--metrics-address <address>',
      'serve /metrics, /live and /ready here in the long-running mode ("": off)',
    )
      .argParser(listenAddress)
      .default({ port: 9090 }, '":9090" (every address)'),
    flag(
      '--pushgateway-url <url>',
      'with --once, push the metrics to this Prometheus Pushgateway after the pass',
    ).argParser(httpUrl),
    flag(
      '--report-timeout <duration>',
      "the longest an alert or a push may take, and a pass's Events together",
    )
      .argParser(duration)
      .default(10_000, '10s'),
    flag('--lease-name <name>', 'the Lease that lets one instance act at a time').default(
      'polling-reloader',
    ),
    flag('--lease-duration <duration>', 'how long a Lease holder that stopped renewing keeps it')
      .argParser(duration)
      .default(30_000, '30s'),
    flag(
      '--kubeconfig <path>',
      'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)',
    ),
    flag('--context <name>', 'kubeconfig context to use'),
    flag('--state <path>', 'where the observed state is kept').default(
      'state/polling-reloader.json',
    ),
    flag(
      '--auto-reload-all [bool]',
      'reload every workload that references a changed object, unless it opts out',
    )
      .argParser(bool)
      .default(false),
    flag('--reload-strategy <strategy>', 'how a reload changes the pod template')
      .argParser(oneOf<ReloadStrategy>(['annotations', 'env-vars']))
      .default('annotations'),
    flag('--reload-on-create [bool]', 'reload when a referenced object is created')
      .argParser(bool)
      .default(false),
    flag('--reload-on-delete [bool]', 'reload when a referenced object is deleted')
      .argParser(bool)
      .default(false),
    flag('--namespaces <list>', 'only these namespaces, comma-separated (default: all)').argParser(
      parseList,
    ),
    flag('--namespaces-to-ignore <list>', 'namespaces to leave alone, comma-separated').argParser(
      parseList,
    ),
    flag(
      '--namespace-selector <selector>',
      'only namespaces with these labels (key:value or key=value)',
    ).argParser(labelSelector),
    flag(
      '--resource-label-selector <selector>',
      'only ConfigMaps and Secrets with these labels',
    ).argParser(labelSelector),
    flag('--resources-to-ignore <list>', 'configMaps or secrets: never look at them').argParser(
      resources,
    ),
    flag(
      '--ignored-workload-types <list>',
      `workload types to leave alone: ${Object.keys(workloadNames).join(', ')}`,
    ).argParser(workloadTypes),
    flag('--is-Argo-Rollouts [bool]', 'reload Argo Rollouts where their API exists')
      .argParser(bool)
      .default(true),
    flag(
      '--hash-key-secret <name>',
      "Secret in the reloader's namespace that holds the hash key",
    ).default('polling-reloader-hash-key'),
    flag('--lease-namespace <namespace>', "the reloader's own namespace (hash key, Lease)").default(
      ownNamespace(),
      '$POD_NAMESPACE, the pod namespace, or default',
    ),
    flag('--log-format <format>', 'json, or text (Reloader: empty for text)')
      .argParser((raw) => (raw === '' ? 'text' : oneOf(['json', 'text'] as const)(raw)))
      .default('text'),
    flag('--log-level <level>', 'trace, debug, info, warn, error')
      .argParser((raw) =>
        oneOf(['trace', 'debug', 'info', 'warn', 'error'] as const)(
          raw === 'warning' ? 'warn' : raw,
        ),
      )
      .default('info'),
    ...annotationFlags.map(([spec, field]) =>
      flag(`${spec} <name>`, 'annotation name').default(defaultAnnotationNames[field]),
    ),
  ];
  for (const option of options) cmd.addOption(option);
  return cmd;
}

/** The parsed values of `run`'s flags. */
export interface RunFlags {
  once: boolean;
  dryRun: boolean;
  interval: number;
  passTimeout: number;
  schedule?: string;
  leaseName: string;
  leaseDuration: number;
  healthPort: number;
  healthAddress: string;
  /** false: not served. */
  metricsAddress: ListenAddress | false;
  pushgatewayUrl?: URL;
  reportTimeout: number;
  kubeconfig?: string;
  context?: string;
  state: string;
  autoReloadAll: boolean;
  reloadStrategy: ReloadStrategy;
  reloadOnCreate: boolean;
  reloadOnDelete: boolean;
  namespaces?: string[];
  namespacesToIgnore?: string[];
  namespaceSelector?: string;
  resourceLabelSelector?: string;
  resourcesToIgnore?: SourceKind[];
  ignoredWorkloadTypes?: WorkloadKind[];
  isArgoRollouts: boolean;
  hashKeySecret: string;
  leaseNamespace: string;
  logFormat: 'json' | 'text';
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  [annotationFlag: string]: unknown;
}

/** What a pass needs, from the flags. */
export function passOptions(flags: RunFlags): PassOptions {
  const names = { ...defaultAnnotationNames };
  for (const [spec, field] of annotationFlags) {
    const value = flags[camel(spec)];
    if (typeof value === 'string' && value) names[field] = value;
  }
  const ignored = new Set(flags.ignoredWorkloadTypes ?? []);
  if (!flags.isArgoRollouts) ignored.add('Rollout');
  return {
    scope: {
      namespaces: flags.namespaces ?? [],
      namespacesToIgnore: flags.namespacesToIgnore ?? [],
      namespaceSelector: flags.namespaceSelector || undefined,
      resourceLabelSelector: flags.resourceLabelSelector || undefined,
      resourcesToIgnore: flags.resourcesToIgnore ?? [],
      workloadKinds: workloadKinds.filter((k) => !ignored.has(k)),
    },
    plan: {
      names,
      autoReloadAll: flags.autoReloadAll,
      reloadOnCreate: flags.reloadOnCreate,
      reloadOnDelete: flags.reloadOnDelete,
    },
    strategy: flags.reloadStrategy,
    dryRun: flags.dryRun,
    hashKey: { namespace: flags.leaseNamespace, name: flags.hashKeySecret },
  };
}

function camel(spec: string): string {
  return spec.replace(/^--/, '').replace(/-([a-zA-Z])/g, (_, c: string) => c.toUpperCase());
}
