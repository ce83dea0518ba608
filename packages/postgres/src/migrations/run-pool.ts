/**
 * Runs `work` over `items` with at most `concurrency` at a time, in order.
 * `stop()` is asked before each start: once it says yes, nothing new starts
 * (running work finishes) and the rest count as skipped. A throwing `work`
 * stops new starts too; its error is thrown once the running work is done.
 */
export async function runPool<T, R>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<R>,
  hooks: { readonly stop?: () => boolean; readonly onDone?: (result: R) => void } = {},
): Promise<{ readonly skipped: number }> {
  let next = 0
  let started = 0
  let failure: { error: unknown } | undefined
  async function worker(): Promise<void> {
    while (next < items.length && failure === undefined) {
      if (hooks.stop?.()) return
      const item = items[next++] as T
      started++
      try {
        hooks.onDone?.(await work(item))
      } catch (error) {
        failure ??= { error }
      }
    }
  }
  // Every started item finishes before this returns or throws: a caller that
  // holds a lock for the run must not release it while work is still going.
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
  if (failure !== undefined) throw failure.error
  return { skipped: items.length - started }
}
