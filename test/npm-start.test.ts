import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { waitFor } from './helpers/wait-for.js'

// `npm start` as a supervisor runs it (systemd, a container runtime, a
// process manager): it signals the process it started, npm, and nothing
// else. npm passes SIGTERM and SIGINT on to its script's process, so the
// script must be the daemon itself (`exec node ...`), not a shell that
// would die and leave the daemon holding its ports. test/run.sh built
// dist/ already, so prestart's `tsc -b` finds nothing to do.

const root = new URL('..', import.meta.url).pathname

interface Started { npm: ChildProcess, out: () => string, daemonPid: number, ports: number[] }

async function npmStart (t: Test, detached: boolean): Promise<Started> {
  const dir = t.testdir()
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('HAIL_') && !name.startsWith('npm_')))
  const npm = spawn('npm', ['start', '--', '--host', '127.0.0.1', '--mqtt-port', '0', '--http-port', '0', '--data', join(dir, 'data')],
    { cwd: root, env, detached, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (npm.exitCode === null) npm.kill('SIGKILL') })
  let out = ''
  npm.stdout!.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  npm.stderr!.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  await waitFor(() => out.includes('"msg":"hail started"') || npm.exitCode !== null, 'hail started', 120_000)
  const line = out.split('\n').find((l) => l.includes('"msg":"hail started"'))
  if (line === undefined) throw new Error(`npm start did not start hail:\n${out}`)
  const { pid, urls } = JSON.parse(line) as { pid: number, urls: Record<string, string> }
  t.teardown(() => { try { process.kill(pid, 'SIGKILL') } catch {} })
  return { npm, out: () => out, daemonPid: pid, ports: Object.values(urls).map((url) => Number(new URL(url).port)) }
}

const exited = (child: ChildProcess): Promise<number | null> => new Promise((resolve) => {
  if (child.exitCode !== null) resolve(child.exitCode)
  else child.on('exit', (code) => resolve(code))
})

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Whether nothing listens on 127.0.0.1:port any more: binding it succeeds. */
async function free (port: number): Promise<boolean> {
  const server = net.createServer()
  return await new Promise((resolve) => {
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

t.test('npm start runs the daemon as npm\'s own child (exec, no shell in between)', async (t) => {
  const { npm, daemonPid } = await npmStart(t, false)
  const ppid = Number(readFileSync(`/proc/${daemonPid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1])
  t.equal(ppid, npm.pid, 'the daemon\'s parent is npm')
  npm.kill('SIGTERM')
  await exited(npm)
})

t.test('SIGTERM to the process npm start is stops the daemon gracefully and frees its ports', async (t) => {
  const { npm, out, daemonPid, ports } = await npmStart(t, false)
  npm.kill('SIGTERM')
  t.equal(await exited(npm), 0, 'npm exits 0: the daemon stopped cleanly')
  t.notOk(alive(daemonPid), 'the daemon is gone, not orphaned')
  for (const port of ports) t.ok(await free(port), `port ${port} is free again`)
  t.match(out(), /"msg":"closed"/, 'it closed in order')
})

t.test('Ctrl-C at a terminal (SIGINT to npm and the daemon both, which npm passes on again) stops it gracefully', async (t) => {
  const { npm, out, daemonPid } = await npmStart(t, true)
  // A terminal signals the whole foreground process group.
  process.kill(-npm.pid!, 'SIGINT')
  t.equal(await exited(npm), 0, 'exit 0, not 130: the repeated SIGINT did not force the exit')
  t.notOk(alive(daemonPid), 'the daemon is gone')
  t.notMatch(out(), /"msg":"second signal/, 'the repeat counted as the same request')
  t.match(out(), /"msg":"closed"/, 'it closed in order')
})
