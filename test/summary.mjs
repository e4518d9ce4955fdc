// Totals of the last `npm test` run, read from the TAP that tap saves per test
// file (.tap/test-results), printed as the one line CI reads:
//   N passed, N failed, N skipped
// Counted are leaf assertions: a test point that closes a subtest (its plan,
// `1..N`, stands deeper just above it) is a summary of points already counted.
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'

const root = '.tap/test-results'
const files = []
async function walk (dir) {
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) await walk(path)
    else if (entry.name.endsWith('.tap')) files.push(path)
  }
}
await walk(root)

const POINT = /^(\s*)(not ok|ok)\b(.*)$/
const PLAN = /^(\s*)1\.\.(\d+)/
let passed = 0
let failed = 0
let skipped = 0
for (const file of files) {
  let lastPlanIndent = -1
  let inYaml = false
  let points = 0
  let leafFailures = 0
  let subtestFailed = false
  let bailed = false
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    if (inYaml) {
      if (/^\s*\.\.\.\s*$/.test(line)) inYaml = false
      continue
    }
    if (/^\s*---\s*$/.test(line)) { inYaml = true; continue }
    if (/^\s*Bail out!/.test(line)) bailed = true
    const plan = PLAN.exec(line)
    if (plan) { lastPlanIndent = plan[1].length; continue }
    const point = POINT.exec(line)
    if (point) {
      const indent = point[1].length
      const closesSubtest = lastPlanIndent > indent
      lastPlanIndent = -1
      if (closesSubtest) {
        if (point[2] === 'not ok' && !/#\s*(skip|todo)\b/i.test(point[3])) subtestFailed = true
        continue
      }
      points++
      if (/#\s*(skip|todo)\b/i.test(point[3])) skipped++
      else if (point[2] === 'ok') passed++
      else leafFailures++
      continue
    }
    if (line.trim() !== '' && !line.trim().startsWith('#')) lastPlanIndent = -1
  }
  failed += leafFailures
  // A file that crashed, timed out or bailed out fails once even with no failing assertion.
  if (leafFailures === 0 && (subtestFailed || bailed || points === 0)) failed++
}
if (files.length === 0) failed++
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`)
