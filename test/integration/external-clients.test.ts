import t from 'tap'
import { spawn, execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import mqtt from 'mqtt'
import { Daemon } from '../helpers/daemon.js'

// Clients nobody here wrote, as Debian ships them (test/run.sh installs them).
const PYTHON = '/usr/bin/python3'
const PAHO = fileURLToPath(new URL('../fixtures/paho-client.py', import.meta.url))
const run = promisify(execFile)

/** Start a subscriber process; resolves once it says it is subscribed, then to its first message. */
async function subscriber (cmd: string, args: string[], ready: RegExp): Promise<{ message: Promise<string> }> {
  // mosquitto_sub block-buffers a pipe: stdbuf makes it print each line as it comes.
  const child = spawn('stdbuf', ['-oL', cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  const rl = createInterface({ input: child.stdout })
  const killer = setTimeout(() => child.kill(), 20_000)
  const message = new Promise<string>((resolve, reject) => {
    child.on('exit', (code) => {
      clearTimeout(killer)
      code === 0 ? resolve(lines.filter((l) => !/ready|granted|Client|Subscribed|SUBACK|CONNACK|PUBLISH|PUBACK|CONNECT|SUBSCRIBE/.test(l)).join('\n')) : reject(new Error(`${cmd} exited ${code}: ${lines.join('\n')}`))
    })
  })
  await new Promise<void>((resolve, reject) => {
    rl.on('line', (line) => {
      lines.push(line)
      if (ready.test(line)) resolve()
    })
    child.on('exit', () => reject(new Error(`${cmd} exited before subscribing: ${lines.join('\n')}`)))
  })
  // Wrapped: an async function returning a bare promise would wait for it.
  return { message }
}

t.test('clients nobody here wrote publish and receive through hail', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hail-ext-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const { daemon, addresses } = await Daemon.start(['--data', dir, '--mqtt-port', '0', '--http-port', '0', '--allow-anonymous'])
  t.teardown(() => daemon.stop())
  const host = '127.0.0.1'
  const port = String(addresses.mqtt!.port)
  const wsUrl = `ws://127.0.0.1:${addresses.http!.port}/mqtt`

  t.test('mosquitto_pub to mosquitto_sub over TCP', async (t) => {
    const got = await subscriber('mosquitto_sub', ['-h', host, '-p', port, '-t', 'ext/mosq', '-q', '1', '-C', '1', '-d', '-i', 'mosq-sub'], /SUBACK/)
    await run('mosquitto_pub', ['-h', host, '-p', port, '-t', 'ext/mosq', '-q', '1', '-m', 'hello from mosquitto_pub'])
    t.equal(await got.message, 'hello from mosquitto_pub')
  })

  t.test('paho publishes, mosquitto_sub receives; mosquitto_pub publishes, paho receives', async (t) => {
    const mosq = await subscriber('mosquitto_sub', ['-h', host, '-p', port, '-t', 'ext/paho', '-q', '1', '-C', '1', '-d', '-i', 'mosq-sub-2'], /SUBACK/)
    await run(PYTHON, [PAHO, 'pub', host, port, 'ext/paho', 'hello from paho'])
    t.equal(await mosq.message, 'hello from paho')

    const paho = await subscriber(PYTHON, [PAHO, 'sub', host, port, 'ext/paho2'], /^ready$/)
    await run('mosquitto_pub', ['-h', host, '-p', port, '-t', 'ext/paho2', '-q', '1', '-m', 'hello to paho'])
    t.equal(await paho.message, 'hello to paho')
  })

  t.test('mqtt.js over WebSocket and mosquitto over TCP talk to each other', async (t) => {
    const ws = await mqtt.connectAsync(wsUrl, { clientId: 'ws-client' })
    t.teardown(() => ws.endAsync())
    await ws.subscribeAsync('ext/ws/in', { qos: 1 })
    const inbound = new Promise<string>((resolve) => ws.once('message', (_topic, payload) => resolve(payload.toString())))
    await run('mosquitto_pub', ['-h', host, '-p', port, '-t', 'ext/ws/in', '-q', '1', '-m', 'tcp to ws'])
    t.equal(await inbound, 'tcp to ws')

    const mosq = await subscriber('mosquitto_sub', ['-h', host, '-p', port, '-t', 'ext/ws/out', '-q', '1', '-C', '1', '-d', '-i', 'mosq-sub-3'], /SUBACK/)
    await ws.publishAsync('ext/ws/out', 'ws to tcp', { qos: 1 })
    t.equal(await mosq.message, 'ws to tcp')
  })
})
