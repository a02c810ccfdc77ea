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
