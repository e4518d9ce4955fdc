// 200 wrong passwords lock an account out, and then the right one too, from
// any address (issue 19): `hail user unlock` lifts it while the daemon runs,
// and /metrics counts the lockout.
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { addUser, Daemon } from '../helpers/daemon.js'
import { hail } from '../helpers/hail-cli.js'
import { PASSWORD } from '../helpers/im-server.js'

/** A login from `from` (another loopback address is another client address); resolves with the CONNACK return code. */
function tryLogin (port: number, password: string, from: string): Promise<number> {
  return new Promise((resolve) => {
    const client = new mqtt.MqttClient(() => createConnection({ port, host: '127.0.0.1', localAddress: from }), {
      clientId: `alice/d${Math.random().toString(36).slice(2, 8)}`, username: 'alice', password, reconnectPeriod: 0, protocolVersion: 4
    })
    client.once('connect', () => { client.end(true); resolve(0) })
    client.once('error', (err) => { client.end(true); resolve((err as { code?: number }).code ?? -1) })
  })
}

async function lockouts (httpPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
  return Number(/^hail_login_lockouts_total\{by="account"\} (\d+)$/m.exec(text)?.[1] ?? 0)
}

t.test('an account locked out by 200 wrong passwords is counted, and hail user unlock lets the right password in', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hail-lockout-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await addUser(dir, 'alice', PASSWORD)
  const { daemon, addresses } = await Daemon.start(['--data', dir, '--mqtt-port', '0', '--http-port', '0', '--host', '127.0.0.1'])
  t.teardown(() => daemon.kill9())
  const port = addresses.mqtt!.port
  const http = addresses.http!.port
  t.equal(await lockouts(http), 0, 'no lockout yet')

  const codes: number[] = []
  for (let i = 0; i < 200; i += 20) {
    codes.push(...await Promise.all(Array.from({ length: 20 }, () => tryLogin(port, 'wrong password', '127.0.0.1'))))
  }
  t.ok(codes.every((c) => c === 4 || c === 5), 'every wrong password is refused (4: bad password, 5: waiting)')
  t.equal(await tryLogin(port, PASSWORD, '127.0.0.2'), 5, 'then the right password is refused too, from another address')
  t.equal(await lockouts(http), 1, 'hail_login_lockouts_total{by="account"} counts the lockout')

  const unlocked = await hail(['user', 'unlock', 'alice', '--data', dir])
  t.equal(unlocked.code, 0, `hail user unlock exits 0 (${unlocked.stderr})`)
  t.match(unlocked.stderr, /^hail: alice unlocked \(\d+ failed logins forgotten\): the next login is checked at once\n$/, 'and says what it lifted')
  t.equal(await tryLogin(port, PASSWORD, '127.0.0.2'), 0, 'the right password lets alice in again')
  t.match(daemon.lines.join('\n'), /"op":"user.unlock"/, 'through the running daemon\'s admin socket')
  const again = await hail(['user', 'unlock', 'alice', '--data', dir])
  t.match(again.stderr, /^hail: alice was not locked out \(0 failed logins forgotten\)\n$/, 'unlocking an account that is not locked says so')

  t.equal(await daemon.stop(), 0)
  const offline = await hail(['user', 'unlock', 'alice', '--data', dir])
  t.equal(offline.code, 0, 'with no daemon, unlock exits 0')
  t.match(offline.stderr, /no daemon runs on \S+: a login lockout lives only in a running daemon's memory, so none holds alice back/, 'and says why nothing needed lifting')
})
