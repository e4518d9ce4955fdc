import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdir, symlink, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const bin = (name: string): string => join(root, 'node_modules', '.bin', name)
const PARTS = ['index.ts', 'protocol', 'broker', 'media', 'bridge', 'server', 'web', 'client', 'bin']

interface Violation { rule: { name: string }, from: string, to: string }

/** depcruise over `parts` of the tree at `dir`, with the repository's rules; the violations. */
async function cruise (dir: string, parts: string[]): Promise<Violation[]> {
  const { stdout } = await run(bin('depcruise'), [...parts, '--config', join(root, '.dependency-cruiser.cjs'), '--output-type', 'json'], {
    cwd: dir, maxBuffer: 64 * 1024 * 1024
  }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }))
  return (JSON.parse(stdout) as { summary: { violations: Violation[] } }).summary.violations
}

t.test('the dependency rules hold for the tree', async (t) => {
  const violations = await cruise(root, PARTS)
  t.same(violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`), [], 'no seam crossed, no circle')
})

t.test('each dependency rule fails on a tree that breaks it', async (t) => {
  const dir = t.testdir({})
  await symlink(join(root, 'node_modules'), join(dir, 'node_modules'))
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', allowJs: true } }))
  const files: Record<string, string> = {
    'protocol/index.ts': "export * from './ids.js'\nimport '../broker/index.js'\n",
    'protocol/ids.ts': "import { z } from 'zod'\nexport const id = z.string()\n",
    'protocol/schemas.ts': 'export const schemas = 1\n',
    'media/index.ts': "import '../broker/index.js'\nexport const media = 1\n",
    'broker/index.ts': "import '../media/index.js'\nimport '../bridge/index.js'\nexport const broker = 1\n",
    'broker/a.ts': "import './b.js'\nexport const a = 1\n",
    'broker/b.ts': "import './a.js'\nexport const b = 1\n",
    'bridge/index.ts': "import '../web/index.js'\nimport '../broker/a.js'\nexport const bridge = 1\n",
    'client/index.ts': "import '../broker/index.js'\nimport '../protocol/schemas.js'\nexport const client = 1\n",
    'web/index.ts': "import '../broker/index.js'\nexport const web = 1\n",
    'server/index.ts': "import '../media/index.js'\nexport const server = 1\n",
    'bin/hail.ts': "import '../broker/index.js'\n"
  }
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true })
    await writeFile(join(dir, name), text)
  }
  const broken = new Set((await cruise(dir, ['protocol', 'media', 'broker', 'bridge', 'client', 'web', 'server', 'bin'])).map((v) => v.rule.name))
  for (const rule of [
    'no-circular', 'protocol-imports-nothing-of-ours', 'protocol-index-is-dependency-free', 'media-imports-werift-only',
    'broker-never-imports-media-bridge-web', 'bridge-imports-broker-media-protocol', 'client-imports-protocol-only',
    'client-loads-no-validator', 'web-imports-client-protocol', 'server-assembles-broker-bridge-web', 'bin-uses-the-public-api',
    'parts-meet-through-their-index'
  ]) t.ok(broken.has(rule), `${rule} is reported`)
})

t.test('the code is lint clean (npm run lint)', async (t) => {
  const result = await run(bin('eslint'), ['.'], { cwd: root, maxBuffer: 64 * 1024 * 1024 })
    .then(() => ({ code: 0, out: '' }), (err: { code?: number, stdout?: string }) => ({ code: err.code ?? 1, out: err.stdout ?? '' }))
  t.equal(result.code, 0, result.out === '' ? 'eslint found nothing' : result.out)
})
