/** The streams and process hooks a command uses (swapped in tests). */
export interface CliIo {
  readonly out: NodeJS.WritableStream & { isTTY?: boolean }
  readonly err: NodeJS.WritableStream
  /** Aborted on the first Ctrl-C: no new targets start, running ones finish. */
  readonly signal?: AbortSignal
  exitCode(code: number): void
}
