#!/usr/bin/env node
// Where the time goes: the functions with the most self time in a V8 CPU
// profile (from `npm run bench -- --profile`), and the same summed per file.
// Usage: node bench/profile-top.mjs FILE.cpuprofile [N]
import { readFileSync } from 'node:fs'

const [file, topArg] = process.argv.slice(2)
if (file === undefined) {
  process.stderr.write('usage: node bench/profile-top.mjs FILE.cpuprofile [N]\n')
  process.exit(2)
}
const top = Number(topArg ?? 25)
/** @type {{ nodes: { id: number, callFrame: { functionName: string, url: string, lineNumber: number } }[], samples: number[], timeDeltas: number[] }} */
const profile = JSON.parse(readFileSync(file, 'utf8'))
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
/** @type {Map<number, number>} */
const selfUs = new Map()
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
const total = [...selfUs.values()].reduce((a, b) => a + b, 0)
/** @type {Map<string, number>} */
const byFunction = new Map()
/** @type {Map<string, number>} */
const byFile = new Map()
for (const [id, us] of selfUs) {
  const f = /** @type {any} */ (byId.get(id)).callFrame
  const where = f.url === '' ? '(native)' : f.url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, 'node_modules/').replace(/^.*\/dist\//, 'dist/')
  const key = `${f.functionName || '(anonymous)'}  ${where}${f.url === '' ? '' : `:${f.lineNumber + 1}`}`
  byFunction.set(key, (byFunction.get(key) ?? 0) + us)
  byFile.set(where, (byFile.get(where) ?? 0) + us)
}
/** @param {string} title @param {Map<string, number>} m */
const print = (title, m) => {
  process.stdout.write(`\n${title} (of ${(total / 1e6).toFixed(1)} s sampled)\n`)
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${(100 * us / total).toFixed(1).padStart(5)}%  ${k}\n`)
  }
}
print('self time by function', byFunction)
print('self time by file', byFile)
