import { resourcePath, resources, type Api } from '../api.js';
import { notActing, type Outcome } from '../apply.js';
import { message, statusOf } from '../errors.js';
import { describeTrigger } from '../explain.js';
import type { Reload } from '../plan.js';
import { reloaderTypeName } from '../references.js';
import { kindInfo } from '../workloads.js';

/** The Events' `reportingController`. */
export const reportingController = 'polling-reloader';

/** A `events.k8s.io/v1` Event, as created. */
export interface EventBody {
  apiVersion: 'events.k8s.io/v1';
  kind: 'Event';
  metadata: { name: string; namespace: string };
  eventTime: string;
  reportingController: string;
  reportingInstance: string;
  action: string;
  reason: 'Reloaded' | 'ReloadFail';
  type: 'Normal' | 'Warning';
  regarding: ObjectRef;
  related?: ObjectRef;
  note: string;
}

interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}

/** What an Event is made with besides the outcome: the time, and who writes it. */
export interface EventContext {
  now: Date;
  /** The instance (its Lease identity: the pod's name). */
  instance: string;
  /** A number that differs for each Event of the process, so that names never collide. */
  sequence: number;
}

/** The API's limit on an Event's note, in bytes. */
const noteLimit = 1024;
/** The API's limit on `reportingInstance`, `action` and `reason`. */
const fieldLimit = 128;

/** Reloader's word for a source type in its Events. */
const typeName = reloaderTypeName;

/**
 * The Event a reload's outcome is told by, as Reloader records it on the workload: `Normal
 * Reloaded` for a reload done, `Warning ReloadFail` for one that failed; each names the sources
 * and the rule that decided. None for a reload found done already, a finished Job, or one left for
 * the next pass because this instance stopped acting.
 */
export function reloadEvent(
  { reload, outcome }: { reload: Reload; outcome: Outcome },
  ctx: EventContext,
): EventBody | undefined {
  if (outcome === notActing) return undefined;
  const done = outcome.status === 'patched' || outcome.status === 'recreated';
  if (!done && outcome.status !== 'failed') return undefined;
  const { kind, namespace, name, uid } = reload.workload;
  // A re-created Job is another object: its new uid is not known here.
  const sameObject = outcome.status !== 'recreated' && uid;
  const first = reload.triggers[0];
  return {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: { name: eventName(name, ctx), namespace },
    eventTime: microTime(ctx.now),
    reportingController,
    reportingInstance: ctx.instance.slice(0, fieldLimit),
    action: 'Reload',
    reason: done ? 'Reloaded' : 'ReloadFail',
    type: done ? 'Normal' : 'Warning',
    regarding: {
      apiVersion: kindInfo[kind].apiVersion,
      kind,
      namespace,
      name,
      ...(sameObject && { uid: sameObject }),
    },
    ...(first && { related: { apiVersion: 'v1', kind: first.kind, namespace, name: first.name } }),
    note: truncate(
      outcome.status === 'failed' ? failureNote(reload, outcome.error) : reloadNote(reload),
    ),
  };
}

/** Reloader's sentence, then why: each source, what happened to it, and the rule. */
function reloadNote(reload: Reload): string {
  const { kind, namespace, name } = reload.workload;
  const updated = `Updated '${name}' of type '${kind}' in namespace '${namespace}'`;
  if (reload.triggers.length === 0)
    return `${updated}: resumed its rollout, held back by its pause period`;
  const sources = reload.triggers.map((t) => `'${t.name}' of type '${typeName[t.kind]}'`);
  const held = reload.pause ? ' (rollout held back by its pause period)' : '';
  return (
    `Changes detected in ${sources.join(', ')} in namespace '${namespace}', ${updated}${held}; ` +
    `because ${reload.triggers.map(describeTrigger).join('; ')}`
  );
}

function failureNote(reload: Reload, error: string): string {
  const { kind, namespace, name } = reload.workload;
  const because = reload.triggers.map(describeTrigger).join('; ');
  return (
    `Update for '${name}' of type '${kind}' in namespace '${namespace}' failed with error ${error}` +
    (because ? `; it was due because ${because}; kept pending for the next pass` : '')
  );
}

function truncate(note: string): string {
  if (Buffer.byteLength(note) <= noteLimit) return note;
  let out = note.slice(0, noteLimit - 1);
  while (Buffer.byteLength(`${out}…`) > noteLimit) out = out.slice(0, -1);
  return `${out}…`;
}

/** As client-go names Events: the object's name, a dot, and a hexadecimal time; unique per process. */
function eventName(objectName: string, ctx: EventContext): string {
  const stamp = (BigInt(ctx.now.getTime()) * 1_000_000n + BigInt(ctx.sequence)).toString(16);
  return `${objectName.slice(0, 253 - stamp.length - 1)}.${stamp}`;
}

/** A `MicroTime`: RFC 3339 with six digits of fractional seconds. */
function microTime(at: Date): string {
  return at.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** How the Events of one pass went. */
export interface EventTally {
  written: number;
  failed: number;
}

/**
 * Creates the Events one after the other, within `budgetMs` in all. An Event that cannot be
 * written is reported through `warn` and never thrown: it never fails the pass. A create that is
 * sent again after a fault and finds its Event there (409) counts as written.
 */
export async function writeEvents(
  api: Api,
  events: EventBody[],
  budgetMs: number,
  warn: (text: string) => void,
): Promise<EventTally> {
  const tally: EventTally = { written: 0, failed: 0 };
  const deadline = Date.now() + budgetMs;
  for (const [i, event] of events.entries()) {
    const left = deadline - Date.now();
    if (left <= 0) {
      tally.failed += events.length - i;
      warn(`${events.length - i} Events not written: no time left (${budgetMs} ms for them all)`);
      break;
    }
    try {
      await createEvent(api, event, left);
      tally.written++;
    } catch (err) {
      tally.failed++;
      const { namespace, kind, name } = event.regarding;
      warn(`Event ${event.reason} on ${namespace}/${kind}/${name} not written: ${message(err)}`);
    }
  }
  return tally;
}

async function createEvent(api: Api, event: EventBody, timeoutMs: number): Promise<void> {
  try {
    await api.request({
      method: 'POST',
      path: resourcePath(resources.events, event.metadata.namespace),
      body: event,
      // Its name is fixed: a create sent twice makes one Event (the second is refused with 409).
      idempotent: true,
      attempts: 2,
      timeoutMs,
    });
  } catch (err) {
    if (statusOf(err) !== 409) throw err;
  }
}
