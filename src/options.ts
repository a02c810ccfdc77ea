import { existsSync, readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import cron from 'node-cron';
import {
  defaultAnnotationNames,
  parseBoolean,
  parseDuration,
  type AnnotationNames,
} from './annotations.js';
import { workloadKinds, type WorkloadKind } from './model.js';
import type { ListenAddress } from './health.js';
import type { ReloadStrategy } from './patches.js';
import type { PassOptions } from './pass.js';
import type { ScopeOptions } from './scope.js';
import type { ContentKind } from './references.js';

/** Every flag can also come from `POLLING_RELOADER_<FLAG_IN_CAPITALS>`. */
export const envPrefix = 'POLLING_RELOADER_';

export function envName(flag: string): string {
  return envPrefix + flag.replace(/^--/, '').replace(/-/g, '_').toUpperCase();
}

/** Go's `strconv.ParseBool` spellings, which Reloader's flags accept. */
const goTrue = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const goFalse = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/**
 * A boolean flag's value: Go's spellings (`1`, `t`, `TRUE`, `0`, `f`, `False`, …), as Reloader
 * reads its flags, and `true` or `false` in any case.
 */
export function flagBoolean(raw: string): boolean {
  if (goTrue.has(raw)) return true;
  if (goFalse.has(raw)) return false;
  const parsed = parseBoolean(raw);
  if (!parsed.ok) {
    throw new InvalidArgumentError(
      `"${raw}" is not a boolean (use true or false; Go's 1, t, T, TRUE, 0, f, F, FALSE work too)`,
    );
  }
  return parsed.value;
}

/**
 * The fields of a list flag as Reloader's flag library reads them (a CSV record): separated by
 * commas, each one possibly wrapped in double quotes (`""` inside is one quote), so that
 * `--namespace-selector="team=a"`, as Reloader's chart renders it, means `team=a`. Blanks around
 * a field are trimmed and empty fields dropped.
 */
export function csvFields(raw: string): string[] {
  const fields: string[] = [];
  let at = 0;
  while (at <= raw.length) {
    let field: string;
    if (raw[at] === '"') {
      const end = closingQuote(raw, at + 1);
      field = raw.slice(at + 1, end).replace(/""/g, '"');
      at = end + 1;
      if (at < raw.length && raw[at] !== ',') {
        throw new InvalidArgumentError(`unexpected text after the closing quote in ${raw}`);
      }
    } else {
      const end = raw.indexOf(',', at);
      field = raw.slice(at, end < 0 ? raw.length : end);
      at = end < 0 ? raw.length : end;
      if (field.includes('"')) throw new InvalidArgumentError(`a stray quote in ${raw}`);
    }
    fields.push(field.trim());
    at += 1;
  }
  return fields.filter((f) => f.length > 0);
}

function closingQuote(raw: string, from: number): number {
  for (let i = from; i < raw.length; i++) {
    if (raw[i] !== '"') continue;
    if (raw[i + 1] !== '"') return i;
    i += 1;
  }
  throw new InvalidArgumentError(`an unclosed quote in ${raw}`);
}

/**
 * A list flag: its fields read as `csvFields` does, then each checked by `item`. Given more than
 * once, the values add up, as Reloader's list flags do.
 */
function listOf<T>(item: (field: string) => T): (raw: string, previous?: T[]) => T[] {
  return (raw, previous) => [...(previous ?? []), ...csvFields(raw).map(item)];
}

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

const positiveInteger = (raw: string): number => {
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < 1)
    throw new InvalidArgumentError('not a whole number of at least 1');
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

/**
 * A selector flag: its fields read as `csvFields` does (so that a value in quotes, as Reloader's
 * chart renders it, works), joined with commas as Reloader joins them, then read by
 * `labelSelector`. Given more than once, the terms add up.
 */
function selectorFlag(raw: string, previous?: string): string {
  const terms = labelSelector(csvFields(raw).join(','));
  return previous ? `${previous},${terms}` : terms;
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

const resourceNames: Record<string, ContentKind> = { configmaps: 'ConfigMap', secrets: 'Secret' };

function resource(entry: string): ContentKind {
  const kind = resourceNames[entry.toLowerCase()];
  if (!kind) throw new InvalidArgumentError(`"${entry}" is not configMaps or secrets`);
  return kind;
}

const workloadNames: Record<string, WorkloadKind> = {
  deployments: 'Deployment',
  statefulsets: 'StatefulSet',
  daemonsets: 'DaemonSet',
  cronjobs: 'CronJob',
  jobs: 'Job',
  rollouts: 'Rollout',
};

function workloadType(entry: string): WorkloadKind {
  const kind = workloadNames[entry.toLowerCase()];
  if (!kind) {
    throw new InvalidArgumentError(
      `"${entry}" is not one of ${Object.keys(workloadNames).join(', ')}`,
    );
  }
  return kind;
}

const logLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
/** A level the logger knows. */
export type LogLevel = (typeof logLevels)[number];

/** Reloader's log levels (logrus: any case, `warning`, `panic`), as the logger names them. */
function logLevel(raw: string): LogLevel {
  const lower = raw.toLowerCase();
  const named = lower === 'warning' ? 'warn' : lower === 'panic' ? 'fatal' : lower;
  if ((logLevels as readonly string[]).includes(named)) return named as LogLevel;
  throw new InvalidArgumentError(`use one of: ${logLevels.join(', ')}, warning, panic`);
}

/** Checked as a URL, kept as given: it is POSTed to as the user wrote it. */
const webhookUrl = (raw: string): string => {
  httpUrl(raw);
  return raw;
};

/**
 * The flags Reloader has and a poller takes for compatibility: accepted with their meaning, or
 * with a warning where there is no equivalent (see `startupWarnings`).
 */
function reloaderOnlyFlags(): Option[] {
  return [
    flag('--enable-ha [bool]', 'accepted as in Reloader: the Lease is always held')
      .argParser(flagBoolean)
      .default(false),
    flag(
      '--sync-after-restart [bool]',
      'accepted as in Reloader: the state always carries changes across restarts',
    )
      .argParser(flagBoolean)
      .default(false),
    flag(
      '--webhook-url <url>',
      'reload nothing: POST each change to this URL instead, as Reloader does',
    ).argParser(webhookUrl),
    flag('--enable-pprof [bool]', "Go's pprof: not available; a warning says what to use instead")
      .argParser(flagBoolean)
      .default(false),
    flag('--pprof-addr <address>', 'accepted as in Reloader; unused (see --enable-pprof)').default(
      ':6060',
    ),
    flag(
      '--enable-csi-integration [bool]',
      "SecretProviderClasses as sources, seen in the CSI driver's SecretProviderClassPodStatus",
    )
      .argParser(flagBoolean)
      .default(false),
  ];
}

/** One line each for the flags that change what the program does, or do nothing here, when set. */
export function startupWarnings(flags: RunFlags, env: NodeJS.ProcessEnv = process.env): string[] {
  const warnings: string[] = [];
  const single = singleNamespace(flags, env);
  for (const [flag, set] of [
    ['--namespaces-to-ignore', (flags.namespacesToIgnore ?? []).length > 0],
    ['--namespace-selector', Boolean(flags.namespaceSelector)],
  ] as const) {
    if (single && set) {
      warnings.push(
        `${flag} is ignored: KUBERNETES_NAMESPACE keeps the run to namespace ${single} (as in Reloader)`,
      );
    }
  }
  if (flags.webhookUrl) {
    warnings.push('--webhook-url is set: no workload is reloaded; each change is POSTed to it');
  }
  if (flags.enablePprof) {
    warnings.push(
      "--enable-pprof: Go's pprof does not exist in Node.js: profile with node --cpu-prof or " +
        'node --inspect, or take heap snapshots with NODE_OPTIONS=--heapsnapshot-signal=SIGUSR2',
    );
  }
  return warnings;
}

/**
 * The namespace the reloader runs in: $POD_NAMESPACE, $RELOADER_NAMESPACE (which Reloader's chart
 * sets), its pod's, else the one namespace $KUBERNETES_NAMESPACE confines it to, else `default`.
 */
function ownNamespace(): string {
  const file = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
  const named = process.env.POD_NAMESPACE || process.env.RELOADER_NAMESPACE;
  if (named) return named;
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  return process.env.KUBERNETES_NAMESPACE?.trim() || 'default';
}

/**
 * Reloader's single-namespace mode: `KUBERNETES_NAMESPACE` set and no `--namespaces` means that
 * namespace only (its chart sets the variable when `watchGlobally` is false).
 */
export function singleNamespace(
  flags: Pick<RunFlags, 'namespaces'>,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const namespace = env.KUBERNETES_NAMESPACE?.trim();
  return namespace && (flags.namespaces ?? []).length === 0 ? namespace : undefined;
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
      .argParser(flagBoolean)
      .default(false),
    flag('--dry-run [bool]', 'print the plan and why; change nothing in the cluster or the state')
      .argParser(flagBoolean)
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
      .argParser(flagBoolean)
      .default(false),
    flag('--reload-strategy <strategy>', 'how a reload changes the pod template')
      .argParser(oneOf<ReloadStrategy>(['annotations', 'env-vars']))
      .default('annotations'),
    flag('--reload-on-create [bool]', 'reload when a referenced object is created')
      .argParser(flagBoolean)
      .default(false),
    flag('--reload-on-delete [bool]', 'reload when a referenced object is deleted')
      .argParser(flagBoolean)
      .default(false),
    flag('--namespaces <list>', 'only these namespaces, comma-separated (default: all)').argParser(
      listOf(String),
    ),
    flag('--namespaces-to-ignore <list>', 'namespaces to leave alone, comma-separated').argParser(
      listOf(String),
    ),
    flag(
      '--namespace-selector <selector>',
      'only namespaces with these labels (key:value or key=value)',
    ).argParser(selectorFlag),
    flag(
      '--resource-label-selector <selector>',
      'only ConfigMaps and Secrets with these labels',
    ).argParser(selectorFlag),
    flag('--resources-to-ignore <list>', 'configMaps or secrets: never look at them').argParser(
      listOf(resource),
    ),
    flag(
      '--ignored-workload-types <list>',
      `workload types to leave alone: ${Object.keys(workloadNames).join(', ')}`,
    ).argParser(listOf(workloadType)),
    flag(
      '--run-cronjobs-now [bool]',
      'also start a Job from each CronJob reloaded, at once, as Reloader does',
    )
      .argParser(flagBoolean)
      .default(false),
    flag(
      '--max-reloads-per-pass <n>',
      'roll at most n workloads a pass; the rest wait, in line, for the next passes',
    ).argParser(positiveInteger),
    flag(
      '--wait-healthy [bool]',
      'a batch waits until the workloads rolled before it are available at their new revision',
    )
      .argParser(flagBoolean)
      .default(false),
    flag('--is-Argo-Rollouts [bool]', 'reload Argo Rollouts where their API exists')
      .argParser(flagBoolean)
      .default(true),
    flag(
      '--hash-key-secret <name>',
      "Secret in the reloader's namespace that holds the hash key",
    ).default('polling-reloader-hash-key'),
    flag('--lease-namespace <namespace>', "the reloader's own namespace (hash key, Lease)").default(
      ownNamespace(),
      '$POD_NAMESPACE, $RELOADER_NAMESPACE, the pod namespace, $KUBERNETES_NAMESPACE, or default',
    ),
    flag('--log-format <format>', 'json, or text (Reloader: empty for text)')
      .argParser((raw) => (raw === '' ? 'text' : oneOf(['json', 'text'] as const)(raw)))
      .default('text'),
    flag('--log-level <level>', 'trace, debug, info, warn(ing), error, fatal, panic (as fatal)')
      .argParser(logLevel)
      .default('info'),
    ...reloaderOnlyFlags(),
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
  resourcesToIgnore?: ContentKind[];
  ignoredWorkloadTypes?: WorkloadKind[];
  maxReloadsPerPass?: number;
  waitHealthy: boolean;
  isArgoRollouts: boolean;
  runCronjobsNow: boolean;
  hashKeySecret: string;
  leaseNamespace: string;
  logFormat: 'json' | 'text';
  logLevel: LogLevel;
  enableHa: boolean;
  syncAfterRestart: boolean;
  webhookUrl?: string;
  enablePprof: boolean;
  pprofAddr: string;
  enableCsiIntegration: boolean;
  [annotationFlag: string]: unknown;
}

/**
 * What a pass needs, from the flags and the environment: with `KUBERNETES_NAMESPACE` (see
 * `singleNamespace`), that namespace only, and, as in Reloader, no namespace ignore list or
 * selector (so no cluster-wide list of namespaces either).
 */
export function passOptions(flags: RunFlags, env: NodeJS.ProcessEnv = process.env): PassOptions {
  const names = { ...defaultAnnotationNames };
  for (const [spec, field] of annotationFlags) {
    const value = flags[camel(spec)];
    if (typeof value === 'string' && value) names[field] = value;
  }
  const ignored = new Set(flags.ignoredWorkloadTypes ?? []);
  if (!flags.isArgoRollouts) ignored.add('Rollout');
  return {
    scope: {
      ...namespaceScope(flags, singleNamespace(flags, env)),
      resourceLabelSelector: flags.resourceLabelSelector || undefined,
      resourcesToIgnore: flags.resourcesToIgnore ?? [],
      // Webhook mode touches no workload: none is listed, and no permission on one is needed.
      workloadKinds: flags.webhookUrl ? [] : workloadKinds.filter((k) => !ignored.has(k)),
      csiIntegration: flags.enableCsiIntegration,
    },
    plan: {
      names,
      autoReloadAll: flags.autoReloadAll,
      reloadOnCreate: flags.reloadOnCreate,
      reloadOnDelete: flags.reloadOnDelete,
      csiIntegration: flags.enableCsiIntegration,
    },
    strategy: flags.reloadStrategy,
    dryRun: flags.dryRun,
    hashKey: { namespace: flags.leaseNamespace, name: flags.hashKeySecret },
    batch: { maxPerPass: flags.maxReloadsPerPass, waitHealthy: flags.waitHealthy },
    webhookUrl: flags.webhookUrl,
    runCronJobsNow: flags.runCronjobsNow,
  };
}

function namespaceScope(
  flags: RunFlags,
  single: string | undefined,
): Pick<ScopeOptions, 'namespaces' | 'namespacesToIgnore' | 'namespaceSelector'> {
  if (single) return { namespaces: [single], namespacesToIgnore: [], namespaceSelector: undefined };
  return {
    namespaces: flags.namespaces ?? [],
    namespacesToIgnore: flags.namespacesToIgnore ?? [],
    namespaceSelector: flags.namespaceSelector || undefined,
  };
}

function camel(spec: string): string {
  return spec.replace(/^--/, '').replace(/-([a-zA-Z])/g, (_, c: string) => c.toUpperCase());
}
