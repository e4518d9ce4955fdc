import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import type { Test } from 'tap'
import { createServer } from '../../index.js'
import { type CreateServerOptions, type HailServer } from '../../broker/index.js'
import { waitFor } from './wait-for.js'

export const PASSWORD = 'correct horse battery staple'

/** A real server on loopback with IM users, torn down with the test. */
export async function imServer (t: Test, users: string[], options: Partial<CreateServerOptions> = {}): Promise<{ server: HailServer, port: number, httpPort: number, dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'hail-im-'))
  const server = createServer({ dataDir: join(dir, 'data'), host: '127.0.0.1', mqttPort: 0, httpPort: 0, ...options })
  const { mqtt: bound, http } = await server.listen()
  t.teardown(async () => {
    await server.close()
    await rm(dir, { recursive: true, force: true })
  })
  for (const user of users) await server.users.add(user, PASSWORD)
  return { server, port: bound!.port, httpPort: http?.port ?? 0, dir }
}

export interface RawEvent { topic: string, event: any }

/**
 * A device speaking the protocol with plain mqtt.js (no SDK), so the tests
 * check what any MQTT client sees. Collects everything it receives.
 */
export class RawDevice {
  readonly events: RawEvent[] = []
  #req = 0

  private constructor (readonly client: MqttClient, readonly user: string, readonly device: string) {
    client.on('message', (topic, payload) => {
      let event: unknown
      try { event = JSON.parse(payload.toString()) } catch { event = payload.toString() }
      this.events.push({ topic, event })
    })
  }

  static async connect (t: Test, port: number, user: string, device: string, opts: { clean?: boolean, password?: string, subscribe?: boolean } = {}): Promise<RawDevice> {
    const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
      clientId: `${user}/${device}`, username: user, password: opts.password ?? PASSWORD, clean: opts.clean ?? false, reconnectPeriod: 0
    })
    // listening before CONNACK: a resumed session's queued messages may come in the same read
    const d = new RawDevice(client, user, device)
    await new Promise<void>((resolve, reject) => {
      const settle = (err?: Error): void => {
        client.off('connect', onConnect).off('error', settle).off('close', onClose)
        if (err === undefined) resolve()
        else reject(err)
      }
      const onConnect = (): void => settle()
      const onClose = (): void => settle(new Error(`${user}/${device} closed before CONNACK`))
      client.once('connect', onConnect).once('error', settle).once('close', onClose)
    })
    t.teardown(() => d.end())
    if (opts.subscribe !== false) await client.subscribeAsync({ [`im/inbox/${user}/#`]: { qos: 1 }, [`im/reply/${user}/${device}`]: { qos: 1 } })
    return d
  }

  async end (): Promise<void> {
    if (this.client.connected) await this.client.endAsync()
    else this.client.end(true)
  }

  of (type: string): any[] {
    return this.events.filter((e) => e.event?.type === type).map((e) => e.event)
  }

  messages (conv?: string): any[] {
    return this.of('message').map((e) => e.msg).filter((m) => conv === undefined || m.conv === conv)
  }

  /** im/cmd/{method}; resolves with the result, rejects with the error body. */
  async request (method: string, args: Record<string, unknown> = {}): Promise<any> {
    const req = `r${++this.#req}`
    await this.client.publishAsync(`im/cmd/${method}`, JSON.stringify({ req, ...args }), { qos: 1 })
    await waitFor(() => this.of('result').some((r) => r.req === req), `reply to ${method}`, 10_000)
    const reply = this.of('result').find((r) => r.req === req)
    if (!reply.ok) throw Object.assign(new Error(reply.error.message), { code: reply.error.code })
    return reply.result
  }

  /** im/send/{conv}; resolves with the server's 'sent' or 'error' reply. */
  async send (conv: string, body: unknown, cid = `c${Math.random().toString(36).slice(2, 10)}`, kind = 'text'): Promise<any> {
    await this.client.publishAsync(`im/send/${conv}`, JSON.stringify({ cid, kind, body }), { qos: 1 })
    await waitFor(() => this.events.some((e) => (e.event?.type === 'sent' && e.event.cid === cid) || (e.event?.type === 'error' && e.event.ref === cid)), `reply to send ${cid}`, 10_000)
    return this.events.find((e) => (e.event?.type === 'sent' && e.event.cid === cid) || (e.event?.type === 'error' && e.event.ref === cid))!.event
  }
}
