/**
 * Keeps V8's young generation at its starting size for the rest of the process. V8 doubles the
 * young generation whenever many objects survive a scavenge, and a pass keeps its thousands of
 * sources alive long enough to survive several: within a few passes of the long-running mode the
 * young generation grew to its 64 MiB limit and stayed committed, most of the resident memory
 * (RSS ~190 MiB after a minute at 20k sources, ~115 MiB without the growth); a single `run --once`
 * pass peaked ~8 MiB higher with it, for no less CPU. The growth factor is read at each growth,
 * so it can be set at run time, where the semi-space limits of `--max-semi-space-size` (which the
 * image also passes) are fixed when the heap is made.
 */
export function keepYoungGenerationSmall(): void {
  process.getBuiltinModule('node:v8').setFlagsFromString('--semi-space-growth-factor=1');
}

type Gc = (options: object) => void;

let exposed: Gc | undefined;

/**
 * V8's `gc`, which only `--expose-gc` exposes; set at run time, the flag applies to contexts made
 * after, hence the new context.
 */
function exposedGc(): Gc {
  if (exposed) return exposed;
  process.getBuiltinModule('node:v8').setFlagsFromString('--expose-gc');
  exposed = process.getBuiltinModule('node:vm').runInNewContext('gc') as Gc;
  return exposed;
}

/**
 * A function that runs a full garbage collection, for the long-running mode to call between
 * passes. A pass leaves its garbage in the old generation (the pages of its lists survive a few
 * scavenges while they are read, and their response buffers are external memory held by those
 * pages): between passes nothing allocates enough to start a mark-compact, so 13 to 20 MiB of it
 * stayed resident until one did, and the next pass's garbage grew on top. The "last resort"
 * collection also compacts and hands the freed pages back to the system: a plain one keeps them
 * pooled for reuse, some 12 MiB of resident memory between passes at 20k sources (RSS median
 * 126 -> 97 MiB).
 */
export function fullCollector(): () => void {
  const gc = exposedGc();
  return () => {
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  };
}

/**
 * A function that runs a major garbage collection, for a pass to call where it has just let go
 * of much (see observe.ts): the pages it frees are kept for what the pass allocates next, so the
 * rest of the pass grows from what is live, not from what was.
 */
export function majorCollector(): () => void {
  const gc = exposedGc();
  return () => {
    gc({ type: 'major', execution: 'sync' });
  };
}
