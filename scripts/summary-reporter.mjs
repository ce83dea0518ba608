// A node:test reporter that counts leaf tests and prints the plain summary line
// CI reads ("N passed, N failed, N skipped") as the very last line of the run.
// A suite that fails on its own (a before/after hook, a file that does not load)
// counts as one failure too, so the line never says "0 failed" for a failing run.
export default async function* summaryReporter(source) {
  let passed = 0
  let failed = 0
  let skipped = 0
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue
    const data = event.data
    if (data.details?.type === 'suite') {
      // A suite fails by itself when a hook throws; failing children are counted already.
      const error = data.details?.error
      if (event.type === 'test:fail' && error?.failureType !== 'subtestsFailed') failed++
      continue
    }
    if (data.skip || data.todo) skipped++
    else if (event.type === 'test:pass') passed++
    else failed++
  }
  yield `${passed} passed, ${failed} failed, ${skipped} skipped\n`
}
