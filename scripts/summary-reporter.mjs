// A node:test reporter that counts leaf tests and prints the plain summary line
// CI reads ("N passed, N failed, N skipped") as the very last line of the run.
export default async function* summaryReporter(source) {
  let passed = 0
  let failed = 0
  let skipped = 0
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue
    const data = event.data
    if (data.details?.type === 'suite') continue
    if (data.skip || data.todo) skipped++
    else if (event.type === 'test:pass') passed++
    else failed++
  }
  yield `${passed} passed, ${failed} failed, ${skipped} skipped\n`
}
