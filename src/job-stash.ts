import { setTimeout as sleep } from 'node:timers/promises';
import { listAll, readOptional, resourcePath, resources, type Api } from './api.js';
import { notActing, type Outcome } from './apply.js';
import { trackInCronJob } from './cronjob-active.js';
import { message, statusOf } from './errors.js';
import type { PassOptions } from './pass.js';
import type { Reload, Trigger } from './plan.js';
import { workloadPath, type WorkloadObject } from './workloads.js';

/**
 * A Job is reloaded by deleting it and creating it again. Between the two, the body to create is
 * kept in a Secret of the reloader's own namespace (a Job's spec can hold literal env values), so
 * that whatever fails after the delete (the API, an admission webhook, this process) a later pass
 * creates it: no Job is ever lost. The stash goes once the new Job exists.
 */

const managedBy = 'app.kubernetes.io/managed-by';
const purposeLabel = 'polling-reloader.io/purpose';
const purpose = 'job-recreation';
/** `namespace/name` of the Job. */
const jobAnnotation = 'polling-reloader.io/job';
/** The uid of the Job that was (or is about to be) deleted. */
const deletedUidAnnotation = 'polling-reloader.io/deleted-uid';
/** The triggers of the reload, for the report of the pass that finishes it. */
const triggersAnnotation = 'polling-reloader.io/triggers';
const field = 'job.json';

/** Selects the stashes among the Secrets of the reloader's namespace. */
export const stashSelector = `${managedBy}=polling-reloader,${purposeLabel}=${purpose}`;

export interface JobStash {
  /** Where the Secret is: the reloader's own namespace. */
  secretNamespace: string;
  secretName: string;
  secretUid: string | undefined;
  namespace: string;
  name: string;
  deletedUid: string;
  body: WorkloadObject;
  triggers: Trigger[];
}

interface SecretObject {
  metadata?: {
    name?: string;
    uid?: string;
    annotations?: Record<string, string>;
  };
  data?: Record<string, string>;
}

/** How every stash Secret's name begins. */
export const stashPrefix = 'polling-reloader-job-';

/** The Secret's name: from the uid of the Job it replaces, so one deletion has one stash. */
function stashName(deletedUid: string): string {
  return `${stashPrefix}${deletedUid}`;
}

function secretBody(stash: Omit<JobStash, 'secretUid'>): unknown {
  return {
    metadata: {
      name: stash.secretName,
      labels: { [managedBy]: 'polling-reloader', [purposeLabel]: purpose },
      annotations: {
        [jobAnnotation]: `${stash.namespace}/${stash.name}`,
        [deletedUidAnnotation]: stash.deletedUid,
        [triggersAnnotation]: JSON.stringify(stash.triggers),
      },
    },
    type: 'Opaque',
    immutable: true,
    data: { [field]: Buffer.from(JSON.stringify(stash.body)).toString('base64') },
  };
}

/**
 * Keeps `body`, the Job to create in place of `old`, before `old` is deleted. A stash left for the
 * same Job by an attempt whose delete did not happen is replaced.
 */
export async function writeStash(
  api: Api,
  secretNamespace: string,
  old: WorkloadObject,
  body: WorkloadObject,
  triggers: Trigger[],
): Promise<JobStash> {
  const { name = '', namespace = '', uid = '' } = old.metadata ?? {};
  const stash = {
    secretNamespace,
    secretName: stashName(uid),
    namespace,
    name,
    deletedUid: uid,
    body,
    triggers,
  };
  const path = resourcePath(resources.secrets, secretNamespace);
  const create = () => api.request<SecretObject>({ method: 'POST', path, body: secretBody(stash) });
  try {
    return { ...stash, secretUid: (await create()).metadata?.uid };
  } catch (err) {
    if (statusOf(err) !== 409) throw err;
    // Left by an attempt on this very Job (it still exists: it was just read) whose delete failed.
    await dropStash(api, { ...stash, secretUid: undefined });
    return { ...stash, secretUid: (await create()).metadata?.uid };
  }
}

/** Removes a stash (the one read, when its uid is known); one already gone is fine. */
export async function dropStash(api: Api, stash: JobStash): Promise<void> {
  try {
    await api.request({
      method: 'DELETE',
      path: resourcePath(resources.secrets, stash.secretNamespace, stash.secretName),
      body: stash.secretUid ? { preconditions: { uid: stash.secretUid } } : undefined,
      idempotent: true,
    });
  } catch (err) {
    if (statusOf(err) !== 404) throw err;
  }
}

/** What `ensureJob` found or did. */
export type Ensured = 'created' | 'present' | 'not-deleted';

/**
 * Makes sure the Job of a stash exists: creates it unless a Job of that name other than the one
 * deleted exists ('present': the create had worked, or someone made one). 'not-deleted': the Job
 * the stash replaces is still there and not being deleted (the delete never happened). While the
 * deleted Job is still going away, waits for its name to be free.
 */
export async function ensureJob(api: Api, stash: JobStash, waits = 50): Promise<Ensured> {
  for (let attempt = 0; ; attempt++) {
    const ensured = await ensureOnce(api, stash);
    if (ensured !== 'wait') return ensured;
    if (attempt >= waits) throw new Error('the deleted Job is still going away');
    await sleep(200);
  }
}

/** One look, and a create when the name is free; 'wait': the old Job is still going away. */
async function ensureOnce(api: Api, stash: JobStash): Promise<Ensured | 'wait'> {
  const current = await readOptional<WorkloadObject>(
    api,
    workloadPath('Job', stash.namespace, stash.name),
  );
  if (current) {
    if (current.metadata?.uid !== stash.deletedUid) return 'present';
    return current.metadata.deletionTimestamp ? 'wait' : 'not-deleted';
  }
  try {
    // A create is safe to send again: a second one finds the first (409, then 'present').
    await api.request({
      method: 'POST',
      path: workloadPath('Job', stash.namespace),
      query: { fieldManager: 'polling-reloader' },
      body: stash.body,
      idempotent: true,
    });
    return 'created';
  } catch (err) {
    if (statusOf(err) !== 409) throw err;
    return 'wait';
  }
}

/**
 * Finishes the re-creations an earlier pass began: for each stash, creates its Job unless it
 * exists, then drops the stash. Each stash whose Job was created, or could not be, is reported as
 * an outcome of its reload; a create that fails keeps the stash for the next pass.
 */
export async function restoreStashedJobs(
  api: Api,
  options: PassOptions,
  canAct: () => boolean = () => true,
): Promise<{ reload: Reload; outcome: Outcome }[]> {
  if (!options.scope.workloadKinds.includes('Job')) return [];
  const secretNamespace = options.hashKey.namespace;
  const stashes = await listAll(
    api,
    resourcePath(resources.secrets, secretNamespace),
    { labelSelector: stashSelector },
    (secret: SecretObject) => readStash(secretNamespace, secret),
  );
  const out: { reload: Reload; outcome: Outcome }[] = [];
  for (const stash of stashes) {
    const reload = reloadOf(stash);
    if (!canAct()) {
      out.push({ reload, outcome: notActing });
      continue;
    }
    const outcome = await restore(api, stash);
    if (outcome) out.push({ reload, outcome });
  }
  return out;
}

async function restore(api: Api, stash: JobStash | Unreadable): Promise<Outcome | undefined> {
  if ('problem' in stash) {
    return {
      status: 'failed',
      error: `Secret ${stash.secretNamespace}/${stash.secretName} is not a readable Job stash (${stash.problem}): delete it if the Job it kept is not wanted`,
    };
  }
  let ensured: Ensured;
  try {
    // A Job still going away (a finalizer) is waited for by a later pass, not this one.
    ensured = await ensureJob(api, stash, 5);
  } catch (err) {
    return {
      status: 'failed',
      error: `${stash.namespace}/Job/${stash.name}: ${notRecreated(stash, err)}`,
    };
  }
  try {
    await trackStashed(api, stash);
  } catch (err) {
    return { status: 'failed', error: `${stash.namespace}/Job/${stash.name}: ${message(err)}` };
  }
  // A stash that cannot be dropped now is dropped by the next pass, which finds the Job.
  await dropStash(api, stash).catch(() => undefined);
  return ensured === 'created' ? { status: 'recreated', ops: [] } : undefined;
}

/**
 * Lists the Job of a stash in its CronJob's `status.active` in place of the one deleted (see
 * src/cronjob-active.ts). The stash is dropped only after this: until then, a later pass does it.
 */
export async function trackStashed(api: Api, stash: JobStash): Promise<void> {
  const { namespace, name, deletedUid: replaced } = stash;
  try {
    await trackInCronJob(api, { namespace, name, replaced });
  } catch (err) {
    throw new Error(
      `re-created, but its CronJob does not list it as active yet: ${message(err)} ` +
        `(kept in Secret ${stash.secretNamespace}/${stash.secretName}: a later pass lists it)`,
      { cause: err },
    );
  }
}

/** Why a Job deleted to be re-created is not re-created yet: the real cause, and where it is kept. */
export function notRecreated(stash: JobStash, err: unknown): string {
  return (
    `deleted to be re-created, and not re-created yet: ${message(err)} ` +
    `(kept in Secret ${stash.secretNamespace}/${stash.secretName}: a later pass creates it)`
  );
}

interface Unreadable {
  secretNamespace: string;
  secretName: string;
  problem: string;
  namespace: string;
  name: string;
}

function readStash(secretNamespace: string, secret: SecretObject): JobStash | Unreadable {
  const meta = secret.metadata ?? {};
  const secretName = meta.name ?? '';
  const annotations = meta.annotations ?? {};
  const [namespace = '', name = ''] = (annotations[jobAnnotation] ?? '').split('/');
  const where = { secretNamespace, secretName, namespace, name };
  try {
    return { ...where, secretUid: meta.uid, ...parseStash(annotations, secret.data, where) };
  } catch (err) {
    // Never the content: only why it does not parse (a SyntaxError quotes the text).
    const problem = err instanceof SyntaxError ? 'not JSON' : message(err);
    return { ...where, name: name || secretName, problem };
  }
}

function parseStash(
  annotations: Record<string, string>,
  data: Record<string, string> | undefined,
  { namespace, name }: { namespace: string; name: string },
): Pick<JobStash, 'deletedUid' | 'body' | 'triggers'> {
  const deletedUid = annotations[deletedUidAnnotation];
  if (!namespace || !name || !deletedUid) throw new Error('its annotations are missing');
  const text = Buffer.from(data?.[field] ?? '', 'base64').toString('utf8');
  const body = JSON.parse(text) as WorkloadObject;
  if (body.metadata?.namespace !== namespace || body.metadata.name !== name)
    throw new Error('it holds another Job than its annotation names');
  const triggers = JSON.parse(annotations[triggersAnnotation] ?? '[]') as Trigger[];
  return { deletedUid, body, triggers };
}

function reloadOf(stash: JobStash | Unreadable): Reload {
  return {
    workload: {
      kind: 'Job',
      namespace: stash.namespace || stash.secretNamespace,
      name: stash.name,
      annotations: {},
      references: [],
      record: {},
    },
    triggers: 'triggers' in stash ? stash.triggers : [],
    record: {},
    pause: false,
    resume: false,
  };
}
