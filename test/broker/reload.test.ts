import t from 'tap'
import { execFileSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import tls from 'node:tls'
import mqtt from 'mqtt'
import { AclError, ConfigError, HailServer, ListenError } from '../../broker/index.js'
import { suback } from '../helpers/suback.js'

// server.reload() (what SIGHUP does in the daemon): new access rules and a
// renewed certificate without closing a connection; a bad file changes nothing.

/** A self-signed certificate for 127.0.0.1 with its own key, made with Debian's openssl. */
function makeCert (dir: string, name: string): { cert: string, key: string } {
  const cert = join(dir, `${name}-cert.pem`)
  const key = join(dir, `${name}-key.pem`)
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
  return { cert, key }
}

/** The fingerprint of the certificate a new TLS connection to `port` is served. */
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

t.test('reload() applies a new ACL file and a renewed certificate; the connections stay up', async (t) => {
  const dir = t.testdir({ acl: 'topic readwrite a/#\n' })
  const acl = join(dir, 'acl')
  const first = makeCert(dir, 'first')
  const second = makeCert(dir, 'second')
  const live = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') }
  writeFileSync(live.cert, readFileSync(first.cert))
  writeFileSync(live.key, readFileSync(first.key))
  const server = new HailServer({ dataDir: join(dir, 'data'), host: '127.0.0.1', mqttPort: 0, mqttsPort: 0, httpPort: null, wssPort: null, allowAnonymous: true, acl, tls: live })
  const { mqtt: plain, mqtts } = await server.listen()
  t.teardown(() => server.close())

  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${plain!.port}`, { clientId: 'c1', reconnectPeriod: 0 })
  const secure = await mqtt.connectAsync(`mqtts://127.0.0.1:${mqtts!.port}`, { clientId: 'c2', rejectUnauthorized: false, reconnectPeriod: 0 })
  t.teardown(() => { client.end(true); secure.end(true) })
  let closes = 0
  for (const c of [client, secure]) c.on('close', () => closes++)
  t.equal(await servedFingerprint(mqtts!.port), fingerprint(first.cert), 'the first certificate is served')
  t.same(await suback(client, 'b/x'), [128], 'b/ is closed by the first rules')

  writeFileSync(acl, 'topic readwrite a/#\ntopic readwrite b/#\n')
  writeFileSync(live.cert, readFileSync(second.cert))
  writeFileSync(live.key, readFileSync(second.key))
  await server.reload()

  t.same(await suback(client, 'b/x'), [0], 'the new rules open b/ on the same connection')
  t.equal(await servedFingerprint(mqtts!.port), fingerprint(second.cert), 'a new TLS connection is served the renewed certificate')
  const got = new Promise<string>((resolve) => client.once('message', (_topic, payload) => resolve(payload.toString())))
  await secure.publishAsync('b/x', 'over the old TLS connection', { qos: 1 })
  t.equal(await got, 'over the old TLS connection', 'the TLS connection made before the reload still carries messages')

  // A renewal half done: the new certificate with the old key.
  writeFileSync(live.cert, readFileSync(first.cert))
  await t.rejects(server.reload(), ListenError, 'a key that is not the certificate\'s is refused')
  t.equal(await servedFingerprint(mqtts!.port), fingerprint(second.cert), 'and the running certificate stays')
  t.equal(closes, 0, 'no connection was closed')
})

t.test('a bad ACL file, a bad certificate or turning TLS on is refused, and the running rules stay', async (t) => {
  const dir = t.testdir({ acl: 'topic readwrite a/#\n' })
  const acl = join(dir, 'acl')
  const server = new HailServer({ dataDir: join(dir, 'data'), host: '127.0.0.1', mqttPort: 0, httpPort: null, allowAnonymous: true, acl })
  const { mqtt: plain } = await server.listen()
  t.teardown(() => server.close())
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${plain!.port}`, { clientId: 'c1', reconnectPeriod: 0 })
  t.teardown(() => client.end(true))

  writeFileSync(acl, 'topic readwrite a/#\ntopic read b/#/c\n')
  await t.rejects(server.reload(), AclError, 'a file that does not parse')
  await t.rejects(server.reload({ acl: join(dir, 'missing.acl') }), ConfigError, 'a file that is not there')
  await t.rejects(server.reload({ tls: makeCert(dir, 'one') }), ConfigError, 'TLS cannot be turned on without a restart')
  t.same(await suback(client, ['a/x', 'b/x']), [0, 128], 'the first rules still hold')
})
