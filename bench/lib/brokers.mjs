// Start and stop the brokers under test, each on a free loopback port with a
// fresh temporary directory, pinned to CPU 0 when taskset is there.
import { execFileSync, fork, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startEjabberd } from './ejabberd.mjs'
import { NotApplicable, ensurePackage } from './install.mjs'
import { freePort, pin, stopChild, waitPort } from './proc.mjs'

export { NotApplicable }

export const MOSQUITTO = '/usr/sbin/mosquitto'
const ROOT = new URL('../../', import.meta.url).pathname
export const HAIL_BIN = join(ROOT, 'dist/bin/hail.js')
/** Queue limit given to every broker, above the largest offline-drain size. */
const MAX_QUEUE = 1_000_000

/**
 * @typedef {object} Broker
 * @property {string} name
 * @property {number} port
 * @property {number[]} pids every process whose CPU and RSS count as the broker's
 * @property {string} dir its temporary directory
 * @property {() => string} log the tail of its stderr
 * @property {() => Promise<void>} stop
 * @property {Promise<string>} crashed resolves, with why, if the broker exits before stop() (not when kill9 killed it)
 * @property {() => Promise<{ acceptMs: number }>} [kill9] SIGKILL the broker's own process (hail's node, not its
 *   redis-server) and start it again on the same data directory and port; acceptMs: from its exit to the
 *   port accepting TCP connections again (polled every 5 ms)
 * @property {string} [redisUrl] hail-redis: the redis-server the bench started for it
 */

/** Install Debian's mosquitto when missing (as root), as the issue asks. */
export function ensureMosquitto () {
  ensurePackage('mosquitto', MOSQUITTO)
}

/** @type {boolean | undefined} */
let redisFlag
/**
 * Whether this build of hail has a --redis flag (`hail --help` lists it).
 * A failing `--help` (dist/ being rebuilt at that moment) is retried, never taken for "no".
 */
export function hailHasRedis () {
  if (redisFlag !== undefined) return redisFlag
  let last = ''
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      redisFlag = /--redis\b/.test(execFileSync(process.execPath, [HAIL_BIN, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] }).toString())
      return redisFlag
    } catch (err) {
      last = String(/** @type {any} */ (err).stderr ?? err).trim().split('\n').slice(-1)[0] ?? ''
      execFileSync('sleep', ['2'])
    }
  }
  throw new NotApplicable(`n/a: hail --help failed (${last}); is dist/ built?`)
}

/**
 * Start a broker by name: `mosquitto` (as Debian's /etc/mosquitto/mosquitto.conf
 * runs it: persistence true, which saves its in-memory state every 30 minutes
 * and at exit, never per message), `mosquitto-mem` (persistence false),
 * `ejabberd` (Debian's, with MAM; chat cells only: bench/lib/ejabberd.mjs),
 * `ejabberd-nomam` (the same without message archiving),
 * `hail` (embedded store), `hail-redis` (with a redis-server, AOF fsync always),
 * `hail-sfu` (Hail's MediaServer alone, for the SFU cells).
 * @param {string} name
 * @param {{ cpu?: number, seedDir?: string, extraArgs?: string[], beforeStart?: (redisUrl: string) => Promise<void>, profileDir?: string }} [o] profileDir: write a V8 CPU profile of Hail there (node --cpu-prof); seedDir: a data directory to start hail from (users for chat); extraArgs: more hail flags; beforeStart: hail-redis, runs once redis is up and before hail starts
 * @returns {Promise<Broker>}
 */
export async function startBroker (name, o = {}) {
  const dir = await mkdtemp(join(tmpdir(), `hail-bench-${name}-`))
  try {
    switch (name) {
      case 'mosquitto':
      case 'mosquitto-mem':
        return await startMosquitto(name, dir, name === 'mosquitto', o.cpu ?? 0)
      case 'hail':
        return await startHail(name, dir, o.cpu ?? 0, o.seedDir, null, [...profileArgs(name, o.profileDir), HAIL_BIN], o.extraArgs ?? [])
      case 'hail-redis': {
        if (!hailHasRedis()) throw new NotApplicable('n/a: hail has no --redis yet')
        if (!existsSync('/usr/bin/redis-server')) throw new NotApplicable('n/a: no redis-server on this machine')
        const redis = await startRedis(dir, o.cpu ?? 0)
        try {
          await o.beforeStart?.(redis.url)
        } catch (err) {
          await redis.stop()
          throw err
        }
        return await startHail(name, dir, o.cpu ?? 0, undefined, redis, [...profileArgs(name, o.profileDir), HAIL_BIN], o.extraArgs ?? [])
      }
      case 'ejabberd':
      case 'ejabberd-nomam':
        return await startEjabberd(dir, o.cpu ?? 0, { name, mam: name === 'ejabberd' })
      case 'hail-sfu':
        return await startSfuHost(dir, o.cpu ?? 0, profileArgs(name, o.profileDir), o.extraArgs ?? [])
      default:
        throw new Error(`unknown broker ${name}: use mosquitto, mosquitto-mem, ejabberd, ejabberd-nomam, hail or hail-redis`)
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true })
    throw err
  }
}

/** @param {string} name @param {string} dir @param {boolean} persistence @param {number} cpu */
async function startMosquitto (name, dir, persistence, cpu) {
  ensureMosquitto()
  const port = await freePort()
  const conf = join(dir, 'mosquitto.conf')
  await writeFile(conf, [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    // Debian's default is 1000 queued messages per client; the offline drain needs more.
    'max_queued_messages 0',
    `persistence ${persistence}`,
    `persistence_location ${dir}/`,
    'log_dest stderr',
    'log_type error',
    ...(process.getuid?.() === 0 ? ['user root'] : []),
    ''
  ].join('\n'))
  return await launch(name, MOSQUITTO, ['-c', conf], dir, port, cpu, [])
}

/** Hail's MediaServer alone in a process (bench/load/sfu-host.mjs); its "port" is its signaling port. cpu: one, or a taskset list ('0-1', the whole-node cells). @param {string} dir @param {number | string} cpu @param {string[]} execArgv @param {string[]} args @returns {Promise<Broker>} */
async function startSfuHost (dir, cpu, execArgv, args) {
  if (!existsSync(join(ROOT, 'dist/media/index.js'))) throw new NotApplicable('n/a: dist/media/index.js missing (no MediaServer built yet)')
  const portBase = 46000 + Math.floor(Math.random() * 10) * 200
  const child = fork(new URL('../load/sfu-host.mjs', import.meta.url).pathname, args, { cwd: dir, execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...process.env, BENCH_SFU_PORT_BASE: String(portBase) } })
  let stderr = ''
  child.stderr?.on('data', (chunk) => { stderr = (stderr + chunk).slice(-4000) })
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`SFU host did not start within 60 s: ${stderr.slice(-600)}`)), 60_000)
    child.once('message', (/** @type {any} */ m) => { clearTimeout(timer); resolve(m.port) })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`SFU host exited (${code}): ${stderr.slice(-600)}`)) })
  })
  const pid = /** @type {number} */ (child.pid)
  pin(pid, cpu)
  let stopping = false
  /** @type {Promise<string>} */
  const crashed = new Promise((resolve) => child.once('exit', (code, signal) => { if (!stopping) resolve(`SFU host exited (${code ?? signal}): ${stderr.trim().slice(-600)}`) }))
  return { name: 'hail-sfu', port: /** @type {number} */ (port), pids: [pid], dir, log: () => stderr, crashed, stop: async () => { stopping = true; await stopChild(child); await rm(dir, { recursive: true, force: true }) } }
}

/** node flags that write a CPU profile of the process into `dir` when it exits. @param {string} name @param {string | undefined} dir */
function profileArgs (name, dir) {
  if (dir === undefined) return []
  return ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`]
}

/** @param {string} dir @param {number} cpu @returns {Promise<{ url: string, pid: number, stop: () => Promise<void> }>} */
async function startRedis (dir, cpu) {
  const port = await freePort()
  const child = spawn('/usr/bin/redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning'], { stdio: ['ignore', 'ignore', 'pipe'] })
  await waitPort(port, child, () => '')
  if (child.pid !== undefined) pin(child.pid, cpu)
  return { url: `redis://127.0.0.1:${port}`, pid: /** @type {number} */ (child.pid), stop: () => stopChild(child) }
}

/**
 * @param {string} name @param {string} dir @param {number} cpu @param {string | undefined} seedDir
 * @param {{ url: string, pid: number, stop: () => Promise<void> } | null} redis
 * @param {string[]} nodeArgs node's arguments up to and including the script @param {string[]} extraArgs
 */
async function startHail (name, dir, cpu, seedDir, redis, nodeArgs, extraArgs) {
  if (!existsSync(HAIL_BIN)) throw new NotApplicable(`${HAIL_BIN} is missing: run npm run build`)
  const dataDir = join(dir, 'data')
  if (seedDir !== undefined) await cp(seedDir, dataDir, { recursive: true })
  const port = await freePort()
  const args = [...nodeArgs, '--allow-anonymous', '--data', dataDir, '--host', '127.0.0.1', '--mqtt-port', String(port),
    '--http-port', 'off', '--log-level', 'warn', '--max-queue', String(MAX_QUEUE)]
  if (redis !== null) args.push('--redis', redis.url)
  args.push(...extraArgs)
  try {
    const broker = await launch(name, process.execPath, args, dir, port, cpu, redis === null ? [] : [redis.pid])
    if (redis === null) return broker
    return { ...broker, redisUrl: redis.url, stop: async () => { await broker.stop(); await redis.stop() } }
  } catch (err) {
    await redis?.stop()
    throw err
  }
}

/**
 * @param {string} name @param {string} command @param {string[]} args @param {string} dir
 * @param {number} port @param {number} cpu @param {number[]} extraPids
 * @returns {Promise<Broker>}
 */
async function launch (name, command, args, dir, port, cpu, extraPids) {
  let stderr = ''
  const log = () => stderr
  let stopping = false
  /** @type {(why: string) => void} */
  let crash = () => {}
  /** @type {Promise<string>} */
  const crashed = new Promise((resolve) => { crash = resolve })
  /** @type {Set<import('node:child_process').ChildProcess>} children killed on purpose (kill9) */
  const killed = new Set()
  /** @param {number} [pollMs] */
  const start = async (pollMs) => {
    const child = spawn(command, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
    child.stderr?.on('data', (chunk) => { stderr = (stderr + chunk).slice(-4000) })
    child.once('exit', (code, signal) => {
      if (!stopping && !killed.has(child)) crash(`${name} exited (${code ?? signal}) during the cell: ${stderr.trim().slice(-600)}`)
    })
    await waitPort(port, child, log, pollMs)
    pin(/** @type {number} */ (child.pid), cpu)
    return child
  }
  let child = await start()
  const pid = /** @type {number} */ (child.pid)
  /** @type {Broker} */
  const broker = {
    name,
    port,
    pids: [pid, ...extraPids],
    dir,
    log,
    crashed,
    stop: async () => {
      stopping = true
      await stopChild(child)
      await rm(dir, { recursive: true, force: true })
    },
    kill9: async () => {
      const old = child
      killed.add(old)
      const exited = new Promise((resolve) => old.once('exit', resolve))
      old.kill('SIGKILL')
      await exited
      const t0 = performance.now()
      child = await start(5)
      broker.pids[0] = /** @type {number} */ (child.pid)
      return { acceptMs: performance.now() - t0 }
    }
  }
  return broker
}
