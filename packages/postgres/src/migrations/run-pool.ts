/**
 * Runs `work` over `items` with at most `concurrency` at a time, in order.
 * `stop()` is asked before each start: once it says yes, nothing new starts
 * (running work finishes) and the rest count as skipped.
 */
export async function runPool<T, R>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<R>,
  hooks: { readonly stop?: () => boolean; readonly onDone?: (result: R) => void } = {},
): Promise<{ readonly skipped: number }> {
  let next = 0
  let started = 0
  async function worker(): Promise<void> {
    while (next < items.length) {
      if (hooks.stop?.()) return
      const item = items[next++] as T
      started++
      hooks.onDone?.(await work(item))
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
  return { skipped: items.length - started }
}
