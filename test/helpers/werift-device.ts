import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import type { LossyLink } from './netns.js'

const CHILD = fileURLToPath(new URL('./werift-device-child.mjs', import.meta.url))

export interface DeviceStats { state: string | undefined, sent: number, received: number }
interface Message { id?: string, event: string, sdp?: string, state?: string, message?: string, sent?: number, received?: number }

/**
 * werift "devices" (RTCPeerConnections that send 50 audio RTP packets a
 * second once connected and count what they receive) in a child process
 * inside a lossy link's namespace; see werift-device-child.mjs.
 */
export class WeriftDevices {
  readonly #child: ChildProcess
  readonly #address: string
  readonly #waiters = new Map<string, Array<(m: Message) => void>>()
  readonly #states = new Map<string, string[]>()
  readonly errors: string[] = []
  #stderr = ''

  private constructor (child: ChildProcess, address: string) {
    this.#child = child
    this.#address = address
    createInterface({ input: child.stdout! }).on('line', (line) => this.#onLine(line))
    child.stderr!.on('data', (d: Buffer) => { this.#stderr = (this.#stderr + d.toString()).slice(-4000) })
  }

  /** Start the child inside `link`'s namespace; `repair` installs media/dtls-loss-repair there too. */
  static async start (link: LossyLink, options: { repair?: string } = {}): Promise<WeriftDevices> {
    const args = [CHILD]
    if (options.repair !== undefined) args.push(`--fix=${options.repair}`)
    const child = link.spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    const devices = new WeriftDevices(child, link.nsAddress)
    await devices.#next('', 'ready', 30_000)
    return devices
  }

  #onLine (line: string): void {
    let m: Message
    try { m = JSON.parse(line) as Message } catch { return }
    if (m.event === 'state' && m.id !== undefined) this.#states.get(m.id)?.push(m.state!)
    if (m.event === 'error') this.errors.push(`${m.id ?? ''}: ${m.message ?? ''}`)
    const key = `${m.id ?? ''}:${m.event}`
    const queue = this.#waiters.get(key)
    const waiter = queue?.shift()
    if (waiter !== undefined) waiter(m)
  }

  #next (id: string, event: string, timeoutMs = 60_000): Promise<Message> {
    return new Promise((resolve, reject) => {
      const key = `${id}:${event}`
      const timer = setTimeout(() => reject(new Error(`device ${id}: no ${event} in ${timeoutMs} ms; stderr: ${this.#stderr}`)), timeoutMs)
      const queue = this.#waiters.get(key) ?? []
      queue.push((m) => { clearTimeout(timer); resolve(m) })
      this.#waiters.set(key, queue)
    })
  }

  #send (msg: object): void {
    this.#child.stdin!.write(JSON.stringify(msg) + '\n')
  }

  /** A new device connection: resolves with its offer (audio, sendrecv, all candidates in it). */
  async call (id: string): Promise<string> {
    this.#states.set(id, [])
    const offer = this.#next(id, 'offer')
    this.#send({ op: 'call', id, address: this.#address })
    return (await offer).sdp!
  }

  answer (id: string, sdp: string): void {
    this.#send({ op: 'answer', id, sdp })
  }

  /** Answer a re-offer from the other side. */
  async offer (id: string, sdp: string): Promise<string> {
    const answer = this.#next(id, 'answer')
    this.#send({ op: 'offer', id, sdp })
    return (await answer).sdp!
  }

  /** Every connectionState the device went through. */
  states (id: string): string[] {
    return this.#states.get(id) ?? []
  }

  async stats (id: string): Promise<DeviceStats> {
    const reply = this.#next(id, 'stats')
    this.#send({ op: 'stats', id })
    const m = await reply
    return { state: m.state, sent: m.sent ?? 0, received: m.received ?? 0 }
  }

  async hangUp (id: string): Promise<void> {
    const closed = this.#next(id, 'closed')
    this.#send({ op: 'close', id })
    await closed
  }

  async close (): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return
    const exited = once(this.#child, 'exit')
    this.#child.stdin!.end()
    await exited
  }
}
