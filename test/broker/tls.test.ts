import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { HailServer } from '../../broker/index.js'

t.test('with a certificate, MQTT over TLS and over secure WebSocket carry messages', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hail-tls-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  // A self-signed certificate for 127.0.0.1, made with Debian's openssl.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
  const server = new HailServer({
    dataDir: join(dir, 'data'), host: '127.0.0.1', mqttPort: 0, httpPort: null, mqttsPort: 0, wssPort: 0, allowAnonymous: true, tls: { cert, key }
  })
  const addresses = await server.listen()
  t.teardown(() => server.close())
  t.ok(addresses.mqtts !== undefined && addresses.wss !== undefined, 'both TLS listeners are open')
  const ca = await readFile(cert)

  const tlsClient = await mqtt.connectAsync(`mqtts://127.0.0.1:${addresses.mqtts!.port}`, { ca, clientId: 'over-tls' })
  const wssClient = await mqtt.connectAsync(`wss://127.0.0.1:${addresses.wss!.port}/mqtt`, { ca, clientId: 'over-wss' })
  t.teardown(() => Promise.all([tlsClient.endAsync(), wssClient.endAsync()]))
  await wssClient.subscribeAsync('secure/#', { qos: 1 })
  const got = new Promise<string>((resolve) => wssClient.once('message', (_topic, payload) => resolve(payload.toString())))
  await tlsClient.publishAsync('secure/hello', 'over TLS', { qos: 1 })
  t.equal(await got, 'over TLS', 'published over mqtts, received over wss')

  await t.rejects(mqtt.connectAsync(`mqtts://127.0.0.1:${addresses.mqtts!.port}`, { clientId: 'no-ca', reconnectPeriod: 0, connectTimeout: 5000 }),
    'a client that does not trust the certificate cannot connect')
})
