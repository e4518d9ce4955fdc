import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import tls from 'node:tls'
import mqtt from 'mqtt'
import t from 'tap'
import { HAIL_BIN } from '../helpers/daemon.js'
import { waitFor } from '../helpers/wait-for.js'
import { suback } from '../helpers/suback.js'

// The daemon as an operator runs it (dist/bin/hail.js, built by test/run.sh):
// SIGHUP reloads, the log formats, what the configuration dump hides.

interface Daemon { child: ChildProcess, stdout: () => string, lines: () => Array<Record<string, unknown>> }

const children = new Set<ChildProcess>()
t.teardown(() => { for (const child of children) child.kill('SIGKILL') })

function start (args: string[], cwd: string): Daemon {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('HAIL_')))
  const child = spawn(process.execPath, [HAIL_BIN, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  child.on('exit', () => children.delete(child))
  let out = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  const lines = (): Array<Record<string, unknown>> => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
  return { child, stdout: () => out, lines }
}

const exited = (child: ChildProcess): Promise<number | null> => new Promise((resolve) => {
  if (child.exitCode !== null) resolve(child.exitCode)
  else child.on('exit', (code) => resolve(code))
})

async function started (daemon: Daemon): Promise<Record<string, string>> {
  await waitFor(() => daemon.lines().some((l) => l.msg === 'hail started') || daemon.child.exitCode !== null, 'hail started')
  const line = daemon.lines().find((l) => l.msg === 'hail started')
  if (line === undefined) throw new Error(`hail did not start:\n${daemon.stdout()}`)
  return line.urls as Record<string, string>
}

/** A self-signed certificate for 127.0.0.1 with its own key (Debian's openssl). */
function makeCert (dir: string, name: string): { cert: string, key: string } {
  const cert = join(dir, `${name}-cert.pem`)
  const key = join(dir, `${name}-key.pem`)
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
  return { cert, key }
}

async function servedFingerprint (port: number): Promise<string> {
  return await new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerX509Certificate()!.fingerprint256)
      socket.destroy()
    })
    socket.on('error', reject)
  })
}

const fingerprint = (path: string): string => new X509Certificate(readFileSync(path)).fingerprint256

t.test('SIGHUP reloads the ACL file, the TLS certificate and the log level; connections stay up; a bad file is refused with one line', async (t) => {
  const dir = t.testdir({ acl: 'topic readwrite a/#\n', 'hail.yaml': 'logLevel: info\n' })
  const [first, second] = [makeCert(dir, 'first'), makeCert(dir, 'second')]
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  writeFileSync(cert, readFileSync(first.cert))
  writeFileSync(key, readFileSync(first.key))
  const daemon = start(['-c', 'hail.yaml', '--data', 'data', '--host', '127.0.0.1', '--mqtt-port', '0', '--mqtts-port', '0', '--http-port', 'off', '--wss-port', 'off',
    '--allow-anonymous', '--acl', 'acl', '--tls-cert', 'cert.pem', '--tls-key', 'key.pem'], dir)
  const urls = await started(daemon)
  const mqttsPort = Number(new URL(urls.mqtts!).port)

  const plain = await mqtt.connectAsync(urls.mqtt!, { clientId: 'plain', reconnectPeriod: 0 })
  const secure = await mqtt.connectAsync(urls.mqtts!, { clientId: 'secure', rejectUnauthorized: false, reconnectPeriod: 0 })
  t.teardown(() => { plain.end(true); secure.end(true) })
  let closes = 0
  for (const c of [plain, secure]) c.on('close', () => closes++)
  t.same(await suback(plain, 'b/x'), [128], 'before: b/ is closed')
  t.equal(await servedFingerprint(mqttsPort), fingerprint(first.cert), 'before: the first certificate')

  writeFileSync(join(dir, 'acl'), 'topic readwrite a/#\ntopic readwrite b/#\n')
  writeFileSync(join(dir, 'hail.yaml'), 'logLevel: debug\n')
  writeFileSync(cert, readFileSync(second.cert))
  writeFileSync(key, readFileSync(second.key))
  daemon.child.kill('SIGHUP')
  await waitFor(() => daemon.lines().some((l) => l.msg === 'configuration reloaded'), 'the reload')
  t.match(daemon.lines().find((l) => l.msg === 'configuration reloaded'), { changed: ['logLevel'] }, 'the log level changed (the ACL and TLS files kept their paths)')

  t.same(await suback(plain, 'b/x'), [0], 'after: the new rule opens b/ on the same connection')
  t.equal(await servedFingerprint(mqttsPort), fingerprint(second.cert), 'after: new TLS connections get the renewed certificate')
  const got = new Promise<string>((resolve) => plain.once('message', (_topic, payload) => resolve(payload.toString())))
  await secure.publishAsync('b/x', 'hello', { qos: 1 })
  t.equal(await got, 'hello', 'the TLS connection from before the reload still carries messages')
  await waitFor(() => daemon.lines().some((l) => l.msg === 'publish' && l.topic === 'b/x'), 'a debug line')
  t.pass('debug lines appear: the new log level is in force')

  const before = daemon.lines().length
  writeFileSync(join(dir, 'acl'), 'topic readwrite a/#\ntopic read c/#/d\n')
  daemon.child.kill('SIGHUP')
  await waitFor(() => daemon.lines().some((l) => typeof l.msg === 'string' && l.msg.startsWith('reload refused')), 'the refusal')
  // At debug other parts may log too; what the operator is told is one line at warn or above.
  const added = daemon.lines().slice(before).filter((l) => (l.level as number) >= 40)
  t.equal(added.length, 1, 'one line')
  t.match(added[0], { level: 50, msg: /^reload refused, the running configuration stays: .*acl:2: / }, 'an error naming the file and line')
  t.same(await suback(plain, ['b/y', 'c/y']), [0, 128], 'the rules from the last good reload stay')
  t.equal(closes, 0, 'no connection was closed by either reload')

  daemon.child.kill('SIGTERM')
  t.equal(await exited(daemon.child), 0)
})

t.test('--log-format pretty writes human-readable lines, one per entry', async (t) => {
  const dir = t.testdir()
  const daemon = start(['--data', 'data', '--host', '127.0.0.1', '--mqtt-port', '0', '--http-port', 'off', '--log-format', 'pretty'], dir)
  await waitFor(() => daemon.stdout().includes('hail started') || daemon.child.exitCode !== null, 'hail started')
  daemon.child.kill('SIGTERM')
  t.equal(await exited(daemon.child), 0)
  const lines = daemon.stdout().trim().split('\n')
  t.match(lines.find((l) => l.includes('hail started')), /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: hail started .*"urls":\{"mqtt":"mqtt:\/\/127\.0\.0\.1:\d+"\}/)
  t.notOk(lines.some((l) => l.startsWith('{')), 'no JSON lines')
  t.match(lines[lines.length - 1], /INFO: closed/, 'the last line, written at exit, is there')
})

t.test('the configuration dump at debug hides secrets that are set and shows null for those that are not', async (t) => {
  const dir = t.testdir({ 'hail.yaml': "push: { url: 'http://127.0.0.1:9/push', secret: s3cret }\ncalls: { iceServers: [{ urls: 'turn:turn.example.org', username: u, credential: p4ss }] }\n" })
  const daemon = start(['-c', 'hail.yaml', '--data', 'data', '--host', '127.0.0.1', '--mqtt-port', '0', '--http-port', 'off', '--log-level', 'debug'], dir)
  await started(daemon)
  daemon.child.kill('SIGTERM')
  await exited(daemon.child)
  const { config } = daemon.lines().find((l) => l.msg === 'configuration') as { config: Record<string, any> }
  t.equal(config.redis, null, 'Redis off: null, not [redacted]')
  t.equal(config.push.secret, '[redacted]')
  t.equal(config.calls.iceServers[0].credential, '[redacted]')
  t.notMatch(daemon.stdout(), /s3cret|p4ss/, 'neither secret anywhere in the log')
})
