// What the harness reads from /proc and the OS: CPU time and RSS of a
// process and its descendants, how busy the machine is, CPU pinning, free
// ports, waiting for a listener and stopping a child.
import { execFileSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { connect, createServer } from 'node:net'

const TICKS_PER_SECOND = (() => {
  try { return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100 } catch { return 100 }
})()

/** utime + stime of a process (its threads included) in microseconds. @param {number} pid */
export function cpuMicros (pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  return (utime + stime) * 1e6 / TICKS_PER_SECOND
}

/** VmRSS of a process in KiB. @param {number} pid */
export function rssKiB (pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status)
  return m === null ? 0 : Number(m[1])
}

/** Aggregate idle and total jiffies from /proc/stat. */
function cpuTimes () {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]
  const parts = line.trim().split(/\s+/).slice(1).map(Number)
  const idle = parts[3] + (parts[4] ?? 0)
  return { idle, total: parts.reduce((a, b) => a + b, 0) }
}

/** Fraction of all CPUs idle over `ms`. @param {number} ms */
export async function idleFraction (ms) {
  const a = cpuTimes()
  await new Promise((resolve) => setTimeout(resolve, ms))
  const b = cpuTimes()
  return b.total === a.total ? 1 : (b.idle - a.idle) / (b.total - a.total)
}

/**
 * Wait until the machine is quiet: at least `minIdle` of all CPUs idle over a
 * one-second sample, for at most `capMs`. Returns what it saw, so a cell
 * measured on a busy machine says so.
 * @param {{ minIdle: number, capMs: number }} o
 */
export async function waitQuiet (o) {
  const start = Date.now()
  let idle = 0
  do {
    idle = await idleFraction(1000)
    if (idle >= o.minIdle) break
  } while (Date.now() - start < o.capMs)
  const load1 = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0])
  return { idle: Math.round(idle * 100) / 100, load1, waitedMs: Date.now() - start, quiet: idle >= o.minIdle }
}

/** @type {boolean | undefined} */
let tasksetAvailable

/** Pin every thread of `pid` to `cpu` with taskset, when there are at least two CPUs and taskset exists. @param {number} pid @param {number} cpu */
export function pin (pid, cpu) {
  if (tasksetAvailable === undefined) {
    try {
      execFileSync('taskset', ['-V'], { stdio: 'ignore' })
      tasksetAvailable = true
    } catch { tasksetAvailable = false }
  }
  if (!tasksetAvailable) return false
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' })
    return true
  } catch { return false }
}

/** A TCP port free on loopback right now. @returns {Promise<number>} */
export function freePort () {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
}

/**
 * Every live descendant of `pid` (children, grandchildren, ...), from /proc:
 * an Erlang VM's port programs, for example, are children of its erl_child_setup.
 * @param {number} pid @returns {number[]}
 */
export function descendants (pid) {
  /** @type {Map<number, number[]>} */
  const children = new Map()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    let stat
    try { stat = readFileSync(`/proc/${name}/stat`, 'utf8') } catch { continue }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    const list = children.get(ppid) ?? []
    list.push(Number(name))
    children.set(ppid, list)
  }
  const out = []
  const todo = [...(children.get(pid) ?? [])]
  while (todo.length > 0) {
    const p = /** @type {number} */ (todo.pop())
    out.push(p)
    todo.push(...(children.get(p) ?? []))
  }
  return out
}

/** Poll (every pollMs, default 100) until the port accepts a TCP connection; fail if the process exits first or after 60 s. @param {number} port @param {import('node:child_process').ChildProcess} child @param {() => string} log @param {number} [pollMs] */
export async function waitPort (port, child, log, pollMs = 100) {
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`broker exited (${child.exitCode ?? child.signalCode}) before listening: ${log().trim().slice(-600)}`)
    const ok = await new Promise((resolve) => {
      const s = connect({ port, host: '127.0.0.1' })
      s.once('connect', () => { s.destroy(); resolve(true) })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`broker did not listen on ${port} within 60 s: ${log().trim().slice(-600)}`)
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs))
  }
}

/** SIGTERM, then SIGKILL after 15 s. @param {import('node:child_process').ChildProcess} child */
export async function stopChild (child) {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  await exited
  clearTimeout(timer)
}
