import t from 'tap'
import { execFile, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { builtinModules } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createServer } from '../index.js'
import { waitFor } from './helpers/wait-for.js'
import { suback } from './helpers/suback.js'

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

t.test('the tarball holds the compiled code, the built web app and the licence, and no sources, tests or source maps', async (t) => {
  for (const file of ['dist/index.js', 'dist/index.d.ts', 'dist/bin/hail.js', 'dist/client/index.js', 'dist/web/index.js',
    'dist/web/public/index.html', 'dist/web/public/favicon.svg', 'README.md', 'LICENSE', 'package.json']) {
    t.ok(files.includes(file), `${file} is packed`)
  }
  const assets = files.filter((f) => f.startsWith('dist/web/public/assets/'))
  t.ok(assets.some((f) => /\/app-[A-Z0-9]{8}\.js$/.test(f)), 'the app\'s hashed script is packed')
  t.ok(assets.some((f) => /\/app-[A-Z0-9]{8}\.css$/.test(f)), 'and its stylesheet')
  t.same(files.filter((f) => f.startsWith('web/') || f.startsWith('test/') || f.startsWith('bench/') || (f.endsWith('.ts') && !f.endsWith('.d.ts'))), [], 'no app sources, tests, benches or TypeScript sources')
  // A map points at the .ts it was made from; without the sources it only misleads a debugger.
  t.same(files.filter((f) => f.endsWith('.map') || f.endsWith('.tsbuildinfo')), [], 'no source maps (of sources the package does not ship) or build state')
  t.match(await readFile(join(root, 'LICENSE'), 'utf8'), /^MIT License/, 'the licence package.json names')
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

/** The first ```ts block after `heading` in README.md, as written there. */
async function readmeExample (heading: string): Promise<string> {
  const readme = await readFile(join(root, 'README.md'), 'utf8')
  const at = readme.indexOf(`\n${heading}\n`)
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(at))
  if (at < 0 || block === null) throw new Error(`no ts example under ${heading} in README.md`)
  return block[1]!
}

t.test('the README\'s embedding and SDK examples compile against the package with skipLibCheck false, and run', async (t) => {
  const app = join(dir, 'app')
  const embed = await readmeExample('## Embedding')
  const sdk = await readmeExample('## Client SDK')
  // The examples as written; only their fixed ports become free ones (and localhost 127.0.0.1) so tests can run side by side.
  await writeFile(join(app, 'embed.ts'), embed.replace('mqttPort: 1883', 'mqttPort: 0'))
  const server = createServer({ dataDir: join(dir, 'sdk-data'), host: '127.0.0.1', mqttPort: 0, httpPort: 0 })
  const { mqtt, http } = await server.listen()
  t.teardown(() => server.close())
  await server.users.add('alice', 'pw-a')
  await server.users.add('bob', 'pw-b')
  await writeFile(join(app, 'sdk.ts'), sdk.replace('ws://localhost:8080/', `ws://127.0.0.1:${http!.port}/`).replace('mqtt://localhost:1883', `mqtt://127.0.0.1:${mqtt!.port}`))
  // An app's strict tsconfig that checks every declaration file, Hail's and what they import.
  await writeFile(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, outDir: 'out', typeRoots: [join(root, 'node_modules', '@types')], types: ['node'] },
    files: ['embed.ts', 'sdk.ts']
  }))
  const tsc = await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], { cwd: app, maxBuffer: 16 << 20 })
    .then(() => '', (err: { stdout?: string }) => err.stdout ?? String(err))
  t.equal(tsc, '', 'no type errors, in Hail\'s declarations or in the examples')
  if (tsc !== '') return

  const child = spawn(process.execPath, ['out/embed.js'], { cwd: app, stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { child.kill('SIGKILL') })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  await waitFor(() => out.includes('"msg":"listening"'), 'the embedded server to listen')
  const { addresses } = JSON.parse(out.split('\n').find((l) => l.includes('"msg":"listening"'))!) as { addresses: { mqtt: { port: number } } }
  const { default: mqttjs } = await import('mqtt')
  const sensor = await mqttjs.connectAsync(`mqtt://127.0.0.1:${addresses.mqtt.port}`, { clientId: 'sensor-1', username: 'sensor', password: 'secret', reconnectPeriod: 0 })
  const granted = await suback(sensor, ['sensors/#', 'elsewhere/#'])
  t.same(granted, [0, 128], 'the example\'s sensor may subscribe to sensors/, and only there')
  const got = new Promise<string>((resolve) => sensor.once('message', (topic, payload) => resolve(`${topic} ${payload.toString()}`)))
  await sensor.publishAsync('sensors/sensor-1/temp', '21.5', { qos: 1 })
  t.equal(await got, 'sensors/sensor-1/temp 21.5', 'and gets what it publishes there')
  await sensor.endAsync()
  const exit = new Promise((resolve) => child.on('exit', (code) => resolve(code)))
  child.kill('SIGTERM')
  t.equal(await exit, 0, 'SIGTERM closes it (the example\'s last line)')
  t.match(out, /"msg":"closed"/)

  const device = spawn(process.execPath, ['out/sdk.js'], { cwd: app, stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { device.kill('SIGKILL') })
  let printed = ''
  device.stdout.setEncoding('utf8').on('data', (chunk: string) => { printed += chunk })
  await waitFor(() => printed.includes('alice: hi bob\n'), 'bob to print alice\'s message')
  t.pass('the SDK example printed "alice: hi bob"')
  // The example leaves its clients connected, as an app would; the device stops here.
  device.kill('SIGKILL')
})
