/**
 * `run` on each item, at most `limit` at a time, and the results in the items' order. The first
 * failure is thrown, and no item starts after it.
 */
export async function mapLimit<T, U>(
  items: readonly T[],
  limit: number,
  run: (item: T) => Promise<U>,
): Promise<U[]> {
  const out = new Array<U>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const at = next++;
      try {
        out[at] = await run(items[at] as T);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const workers = Math.max(1, Math.min(limit, items.length));
  await Promise.all(Array.from({ length: workers }, worker));
  return out;
}
