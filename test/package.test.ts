import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { builtinModules } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

// What `npm install hail` gets: the packed tarball, installed into an empty
// project (from npm's cache where it can), must run the daemon, serve the
// web app with everything it loads, and let an app import the server and
// the SDK. The repository's own node_modules cannot hide a missing file or
// a dependency declared only for development.

const run = promisify(execFile)
const root = new URL('..', import.meta.url).pathname
const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string, dependencies: Record<string, string> }

const dir = await mkdtemp(join(tmpdir(), 'hail-package-'))
t.teardown(async () => await rm(dir, { recursive: true, force: true }))

const packed = JSON.parse((await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: root, maxBuffer: 64 << 20 })).stdout) as Array<{ filename: string, files: Array<{ path: string }> }>
const tarball = join(dir, packed[0]!.filename)
const files = packed[0]!.files.map((f) => f.path)

t.test('the tarball holds the compiled code and the built web app, and no sources or tests', async (t) => {
  for (const file of ['dist/index.js', 'dist/index.d.ts', 'dist/bin/hail.js', 'dist/client/index.js', 'dist/web/index.js',
    'dist/web/public/index.html', 'dist/web/public/favicon.svg', 'README.md', 'package.json']) {
    t.ok(files.includes(file), `${file} is packed`)
  }
  const assets = files.filter((f) => f.startsWith('dist/web/public/assets/'))
  t.ok(assets.some((f) => /\/app-[A-Z0-9]{8}\.js$/.test(f)), 'the app\'s hashed script is packed')
  t.ok(assets.some((f) => /\/app-[A-Z0-9]{8}\.css$/.test(f)), 'and its stylesheet')
  t.same(assets.filter((f) => f.endsWith('.map')), [], 'no source maps of sources the package does not ship')
  t.same(files.filter((f) => f.startsWith('web/') || f.startsWith('test/') || f.startsWith('bench/') || (f.endsWith('.ts') && !f.endsWith('.d.ts'))), [], 'no app sources, tests, benches or TypeScript sources')
})

t.test('every package the compiled code imports is a runtime dependency', async (t) => {
  const builtins = new Set(builtinModules)
  const missing = new Set<string>()
  // dist/ runs in Node; dist/web/public is the browser's bundle, which imports nothing.
  for (const file of files.filter((f) => f.startsWith('dist/') && !f.startsWith('dist/web/public/') && f.endsWith('.js'))) {
    const code = await readFile(join(root, file), 'utf8')
    for (const [, from, dynamic] of code.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"\n]*?from\s+'([^']+)'|\bimport\(\s*'([^']+)'\s*\)/g)) {
      const spec = from ?? dynamic!
      if (spec.startsWith('.') || spec.startsWith('node:')) continue
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!
      if (!builtins.has(name) && pkg.dependencies[name] === undefined) missing.add(`${name} (${file})`)
    }
  }
  t.same([...missing], [], 'imports without a dependency entry')
})

t.test('installed from the tarball: the CLI runs, the server serves the web app, the SDK imports', async (t) => {
  const app = join(dir, 'app')
  await run('mkdir', ['-p', app])
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }))
  // Scripts off: npm here asks before running them, and level ships prebuilt binaries.
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel', 'error', tarball], { cwd: app, timeout: 600_000, maxBuffer: 64 << 20 })

  const version = await run(join(app, 'node_modules', '.bin', 'hail'), ['--version'], { cwd: app })
  t.equal(version.stdout.trim(), pkg.version, 'hail --version')

  await writeFile(join(app, 'check.mjs'), `
    import { createServer } from 'hail'
    import { HailClient } from 'hail/client'
    const server = createServer({ dataDir: './data', mqttPort: 0, httpPort: 0, host: '127.0.0.1' })
    const { mqtt, http } = await server.listen()
    const got = {}
    try {
      const base = 'http://127.0.0.1:' + http.port
      for (const path of ['/', '/call', '/dashboard', '/favicon.ico', '/healthz']) {
        const res = await fetch(base + path)
        got[path] = res.status
      }
      const html = await (await fetch(base + '/')).text()
      for (const m of html.matchAll(/(?:src|href)="(\\/assets\\/app-[A-Z0-9]{8}\\.(js|css))"/g)) {
        got[m[2]] = (await fetch(base + m[1])).status
      }
      got.signIn = (await fetch(base + '/api/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"user":"nobody","password":"x"}' })).status
      const client = new HailClient({ user: 'nobody', device: 'd', url: 'mqtt://127.0.0.1:' + mqtt.port, password: 'wrong' })
      got.sdk = await client.connect().then(() => 'connected', (err) => err.code)
      await client.close()
    } finally {
      await server.close()
    }
    process.stdout.write(JSON.stringify(got))
  `)
  const { stdout } = await run(process.execPath, ['check.mjs'], { cwd: app, timeout: 120_000 })
  t.same(JSON.parse(stdout), {
    '/': 200,
    '/call': 200,
    '/dashboard': 200,
    '/favicon.ico': 200,
    '/healthz': 200,
    js: 200,
    css: 200,
    signIn: 401,
    sdk: 'HAIL_ERR_NOT_AUTHORIZED'
  }, 'the app and its assets served, sign-in answers, and the SDK reached the broker (and was refused: no such user)')
})
