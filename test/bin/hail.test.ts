import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readdirSync, statSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { constants } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { configOptions } from '../../bin/options.js'

/*
 * These tests spawn the real CLI as users run it: `node dist/bin/hail.js`,
 * the file package.json's "bin" names, built by tsc in the before hook when
 * any source is newer than it. Running the .ts source through tap's loader
 * (`node --import @tapjs/typescript/import bin/hail.ts`) also works but costs
 * 1.5-3 s per child, as ts-node loads TypeScript and transpiles the broker
 * every time; one build plus fast children is several times quicker. tsc
 * writes dist/ even when a file elsewhere fails to type-check, so a
 * half-written file in another part does not block these tests.
 * Each child runs in a temp dir, so the default ./hail-data lands there.
 */
const root = fileURLToPath(new URL('../..', import.meta.url))
const hail = join(root, 'dist', 'bin', 'hail.js')

t.before(() => {
  const builtAt = mtime(hail)
  const sources = ['index.ts', ...['bin', 'broker'].flatMap((dir) => readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' }).map((f) => join(dir, f)))]
  if (sources.every((file) => !file.endsWith('.ts') || mtime(join(root, file)) <= builtAt)) return
  const tsc = fileURLToPath(import.meta.resolve('typescript/bin/tsc'))
  const build = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { cwd: root, encoding: 'utf8' })
  if (mtime(hail) <= builtAt) throw new Error(`tsc did not write ${hail}:\n${build.stdout}${build.stderr}`)
  if (build.status !== 0) t.comment(`tsc reported errors, dist/ was written anyway:\n${build.stdout}`)
})

function mtime (path: string): number {
  try {
    return statSync(path).mtimeMs
  } catch {
    return 0
  }
}

interface Daemon {
  child: ChildProcess
  /** Everything the child wrote so far. */
  out: { stdout: string, stderr: string }
}

const children = new Set<ChildProcess>()
t.teardown(() => { for (const child of children) child.kill('SIGKILL') })

function start (args: string[], opts: { cwd: string, env?: Record<string, string> }): Daemon {
  // Without the developer's own HAIL_* variables: only what a test sets counts.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('HAIL_')))
  const child = spawn(process.execPath, [hail, ...args], { cwd: opts.cwd, env: { ...env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  child.on('exit', () => children.delete(child))
  const out = { stdout: '', stderr: '' }
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { out.stdout += chunk })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { out.stderr += chunk })
  return { child, out }
}

interface Result { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

/** Run to completion; a child still alive after `timeout` is killed, and the test sees signal SIGKILL. */
function run (args: string[], opts: { cwd: string, env?: Record<string, string>, timeout?: number }): Promise<Result> {
  const { child, out } = start(args, opts)
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeout ?? 15_000)
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, ...out })
    })
  })
}

/** The first JSON log line with this message, once the child prints it. */
function logLine (daemon: Daemon, msg: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const look = (): void => {
      for (const line of daemon.out.stdout.split('\n')) {
        if (!line.includes(`"msg":"${msg}`)) continue
        daemon.child.stdout!.off('data', look)
        return resolve(JSON.parse(line) as Record<string, unknown>)
      }
    }
    daemon.child.stdout!.on('data', look)
    daemon.child.on('close', (code) => reject(new Error(`hail exited with ${code} before logging "${msg}": ${daemon.out.stderr}`)))
    look()
  })
}

const started = async (daemon: Daemon): Promise<{ urls: Record<string, string> }> =>
  await logLine(daemon, 'hail started') as { urls: Record<string, string> }

function exited (child: ChildProcess): Promise<{ code: number | null, signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
}

/** Listeners on free ports and data in the test's own directory. */
const quiet = (dir: string): string[] => ['--mqtt-port', '0', '--http-port', '0', '--data', join(dir, 'data')]

t.test('hail --help exits 0 and lists every flag with its variable', async (t) => {
  const dir = t.testdir()
  const { code, stdout, stderr } = await run(['--help'], { cwd: dir })
  t.equal(code, 0)
  t.equal(stderr, '')
  t.match(stdout, /^Usage: hail/)
  const missing = configOptions.filter((spec) =>
    !stdout.includes(spec.negatable === true ? `--[no-]${spec.flag}` : `--${spec.flag}`) || !stdout.includes(spec.env))
  t.same(missing.map((spec) => spec.flag), [], 'no flag or variable left out')
  t.notMatch(stdout, /default\s*$/m, 'no option shows a blank default')
  t.match(stdout, /--ice-servers URLS\n(?:.*\n)*?.*file calls\.iceServers, default none\n/, 'an empty list reads none')
  for (const args of [['-h'], ['help'], ['start', '--help'], ['--mqtt-port', 'x', '--help']]) {
    t.same(await run(args, { cwd: dir }), { code: 0, signal: null, stdout, stderr: '' }, `hail ${args.join(' ')} prints the same`)
  }
})

t.test('hail --version prints the package version', async (t) => {
  const { code, stdout } = await run(['--version'], { cwd: t.testdir() })
  t.equal(code, 0)
  t.match(stdout, /^\d+\.\d+\.\d+\S*\n$/)
})

t.test('an unknown flag exits 2 with one line naming it and pointing at --help', async (t) => {
  const { code, stdout, stderr } = await run(['--foo'], { cwd: t.testdir() })
  t.equal(code, 2)
  t.equal(stdout, '')
  t.equal(stderr, "hail: unknown option '--foo' (run 'hail --help' for usage)\n")
})

t.test('a misspelt flag or command exits 2 with one line suggesting the nearest', async (t) => {
  const cwd = t.testdir()
  const cases: Array<[string[], string]> = [
    [['--mqtt-prot', '1884'], "hail: unknown option '--mqtt-prot': did you mean --mqtt-port? (run 'hail --help' for usage)\n"],
    [['start', '--log-levle=debug'], "hail: unknown option '--log-levle': did you mean --log-level? (run 'hail --help' for usage)\n"],
    [['strat'], "hail: unknown command 'strat': did you mean start? (run 'hail --help' for usage)\n"],
    [['users', 'list'], "hail: unknown command 'users': did you mean user? (run 'hail --help' for usage)\n"]
  ]
  for (const [args, stderr] of cases) {
    t.same(await run(args, { cwd }), { code: 2, signal: null, stdout: '', stderr }, `hail ${args.join(' ')}`)
  }
})

t.test('an unknown command exits 2 naming it', async (t) => {
  const { code, stderr } = await run(['frobnicate'], { cwd: t.testdir() })
  t.equal(code, 2)
  t.equal(stderr, "hail: unknown command 'frobnicate' (run 'hail --help' for usage)\n")
})

t.test('a bad port flag exits 2 naming the flag, a bad port variable exits 1 naming the variable', async (t) => {
  const dir = t.testdir()
  const flag = await run(['--mqtt-port', '70000'], { cwd: dir })
  t.equal(flag.code, 2)
  t.match(flag.stderr, /^hail: --mqtt-port: '70000' is not a port/)
  t.equal(flag.stderr.split('\n').length, 2, 'one line')
  const env = await run([], { cwd: dir, env: { HAIL_MQTT_PORT: 'abc' } })
  t.equal(env.code, 1)
  t.match(env.stderr, /^hail: HAIL_MQTT_PORT: 'abc' is not a port[^\n]*\n$/)
})

t.test('an unknown key in a config file exits 1 naming the key and the file', async (t) => {
  const dir = t.testdir({ 'hail.yaml': 'mqttPort: 0\nlimits:\n  maxQeue: 5\n' })
  const { code, stderr } = await run(['--config', 'hail.yaml'], { cwd: dir })
  t.equal(code, 1)
  t.equal(stderr, `hail: config file ${join(dir, 'hail.yaml')}: unknown key limits.maxQeue\n`)
})

t.test('an unreadable TLS file exits 1 with one line naming the file', async (t) => {
  const dir = t.testdir({ 'key.pem': 'not really a key\n' })
  const cert = join(dir, 'missing-cert.pem')
  const args = [...quiet(dir), '--mqtts-port', '0', '--wss-port', '0', '--tls-cert', cert, '--tls-key', 'key.pem']
  const { code, stderr } = await run(args, { cwd: dir })
  t.equal(code, 1)
  t.match(stderr, /^hail: [^\n]*missing-cert\.pem[^\n]*\n$/)
  t.notMatch(stderr, /\n\s+at /, 'no stack trace')
})

t.test('a missing ACL file exits 1 naming the file', async (t) => {
  const dir = t.testdir()
  const { code, stderr } = await run([...quiet(dir), '--acl', 'nope.acl'], { cwd: dir })
  t.equal(code, 1)
  t.match(stderr, new RegExp(`^hail: [^\\n]*${join(dir, 'nope.acl')}[^\\n]*\\n$`))
})

t.test('a port in use exits 1 with one line, and with its stack at --log-level debug', async (t) => {
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => blocker.close())
  const port = String((blocker.address() as AddressInfo).port)
  const dir = t.testdir()
  const args = [...quiet(dir), '--host', '127.0.0.1', '--mqtt-port', port]
  const plain = await run(args, { cwd: dir })
  t.equal(plain.code, 1)
  t.match(plain.stderr, new RegExp(`^hail: [^\\n]*${port}[^\\n]*\\n$`))
  const debug = await run([...args, '--log-level', 'debug'], { cwd: dir })
  t.equal(debug.code, 1)
  t.match(debug.stderr, /^hail: [^\n]*\n\w*Error: [\s\S]*\n\s+at /, 'the stack follows the line')
})

t.test('the daemon logs its URLs as JSON on stdout and exits 0 on SIGTERM', async (t) => {
  const dir = t.testdir()
  const daemon = start([...quiet(dir), '--host', '127.0.0.1'], { cwd: dir })
  const { urls } = await started(daemon)
  t.match(urls.mqtt, /^mqtt:\/\/127\.0\.0\.1:\d+$/)
  t.match(urls.http, /^http:\/\/127\.0\.0\.1:\d+$/)
  const done = exited(daemon.child)
  daemon.child.kill('SIGTERM')
  t.same(await done, { code: 0, signal: null })
  t.match(daemon.out.stdout, '"msg":"stopping', 'the log written during the stop reached stdout before exit')
  t.equal(daemon.out.stderr, '')
})

t.test('a second signal during the graceful stop exits at once with 128 + its number', async (t) => {
  const dir = t.testdir()
  const daemon = start([...quiet(dir), '--host', '127.0.0.1'], { cwd: dir })
  await started(daemon)
  const done = exited(daemon.child)
  // Both arrive before close() can finish, which takes several turns of the
  // event loop; but Node may handle them in either order, so read which one
  // the daemon took as the second.
  daemon.child.kill('SIGINT')
  daemon.child.kill('SIGTERM')
  const { signal } = await logLine(daemon, 'second signal') as { signal: 'SIGINT' | 'SIGTERM' }
  t.same(await done, { code: 128 + constants.signals[signal], signal: null })
})

t.test('HAIL_* variables and a config file reach the daemon', async (t) => {
  const dir = t.testdir()
  writeFileSync(join(dir, 'hail.json'), JSON.stringify({ host: '127.0.0.1', httpPort: null }))
  const daemon = start(['--data', 'data'], {
    cwd: dir,
    env: { HAIL_CONFIG: 'hail.json', HAIL_MQTT_PORT: '0', HAIL_LOG_LEVEL: 'info', HAIL_MAX_QUEU: '5' }
  })
  const warning = await logLine(daemon, 'unknown HAIL_* environment variable ignored')
  t.match(warning, { level: 40, variable: 'HAIL_MAX_QUEU', didYouMean: 'HAIL_MAX_QUEUE' }, 'a misspelt variable is warned about with the one it likely meant')
  const { urls } = await started(daemon)
  t.match(urls.mqtt, /^mqtt:\/\/127\.0\.0\.1:\d+$/)
  t.equal(urls.http, undefined, 'httpPort: null in the file turned HTTP off')
  const done = exited(daemon.child)
  daemon.child.kill('SIGINT')
  t.same(await done, { code: 0, signal: null })
})
