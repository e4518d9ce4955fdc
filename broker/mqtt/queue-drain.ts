import { Readable, type Writable } from 'node:stream'
import packetConstructor from 'aedes-packet'
import mqttPacket from 'mqtt-packet'

/** Packets read off the queue's stream and sent in one go, at most. */
const MAX_BATCH = 256

/** A queued packet as the persistence's stream hands it out. */
interface Queued { cmd?: string, messageId?: number, [key: string]: unknown }

/** A packet about to go out (aedes' QoSPacket without its write callback). */
interface Outgoing { cmd: string, messageId?: number, topic?: string, qos?: number, [key: string]: unknown }

/**
 * The parts of an aedes 1.2.0 Client (lib/client.js, lib/qos-packet.js,
 * lib/write.js, lib/handlers/connect.js emptyQueue) the drain relies on.
 * test/broker/mqtt/queue-drain.test.ts fails if aedes' code there changes.
 */
interface DrainClient {
  id: string
  clean: boolean
  connecting?: boolean
  connected?: boolean
  errored?: boolean
  closed?: boolean
  conn: Writable
  broker: { id: string, authorizeForward: (client: unknown, packet: unknown) => unknown }
  _nextId: number
  waitForDrain: (callback: (err: Error | null) => void) => void
  emit: (event: 'error', err: Error) => boolean
}

/** The persistence calls the drain makes: aedes' own for a drain. */
export interface DrainPersistence {
  outgoingStream: (client: { id: string }) => Readable | NodeJS.ReadableStream
  outgoingUpdate: (client: { id: string }, packet: any) => Promise<unknown>
  outgoingClearMessageId: (client: { id: string }, packet: any) => Promise<unknown>
}

// aedes-packet's typings describe a namespace; at runtime it is the constructor
const Packet = packetConstructor as unknown as new (original: Queued, broker: unknown) => Outgoing

/**
 * Wraps the persistence handed to aedes so that the queue of a persistent
 * session is sent by Hail at its CONNECT, many packets per event-loop turn,
 * instead of by aedes 1.2.0's emptyQueue (lib/handlers/connect.js), which
 * sends one packet per turn: each waits for its own outgoingUpdate, is
 * written alone (its own writev) and only a setImmediate later does the next
 * one start, so a drain of 100k packets was 100k turns and writes.
 *
 * emptyQueue asks the persistence for `outgoingStream(client)` and pipes it
 * through its sender; the stream returned here for a connecting aedes client
 * carries nothing: it runs the drain itself and ends when the queue was
 * sent (or fails as aedes' pipeline would), so aedes' CONNECT chain goes on
 * exactly when it did before. Per batch (what the queue's stream has read,
 * up to MAX_BATCH): each packet gets its messageId as QoSPacket gives it, the
 * batch's outgoingUpdate calls are issued together and awaited once, then
 * each packet, in order, is checked as emptyQueueFilter does
 * (authorizeForward for a publish; a clean or unauthorized one is cleared,
 * not sent) and written as lib/write.js does, all in one turn, so the socket
 * gets one write for the batch. A full socket (write() false) stops the batch
 * until 'drain' through aedes' waitForDrain, so the drain timeout still
 * applies; a closed connection (a takeover closes the older one) ends the
 * drain with aedes' 'connection closed'. aedes 1.2 has no limit on outgoing
 * packets in flight, so neither has this.
 *
 * Any other caller of outgoingStream (not a connecting aedes client) gets the
 * persistence's own stream.
 */
export function drainInTurns<P extends DrainPersistence> (persistence: P): P {
  const stream = persistence.outgoingStream.bind(persistence)
  const outgoingStream = (client: { id: string }): Readable | NodeJS.ReadableStream => {
    if (!isConnectingClient(client)) return stream(client)
    const source = stream(client)
    return new QueueDrain(client, persistence, source instanceof Readable ? source : Readable.from(source as AsyncIterable<unknown>)).out
  }
  const bound = new Map<PropertyKey, unknown>()
  return new Proxy(persistence, {
    get (target, prop) {
      if (prop === 'outgoingStream') return outgoingStream
      const value = Reflect.get(target, prop, target) as unknown
      if (typeof value !== 'function') return value
      let fn = bound.get(prop)
      if (fn === undefined) bound.set(prop, fn = value.bind(target))
      return fn
    }
  })
}

/** Whether `client` is an aedes client in its CONNECT chain (emptyQueue's caller). */
function isConnectingClient (client: unknown): client is DrainClient {
  const c = client as Partial<DrainClient>
  return c.connecting === true && typeof c._nextId === 'number' && typeof c.waitForDrain === 'function' &&
    typeof c.emit === 'function' && c.conn !== undefined && typeof c.broker?.authorizeForward === 'function'
}

/** One session's drain: reads `source`, sends in batches, ends `out` when done. */
class QueueDrain {
  /** What aedes' emptyQueue pipes: no data, ends with the drain. */
  readonly out: Readable
  readonly #client: DrainClient
  readonly #persistence: DrainPersistence
  readonly #source: Readable
  #stopped = false
  /** Called when the source may have something to read (or ended, or failed). */
  #wake: (() => void) | undefined
  #sourceError: Error | undefined
  #sourceEnded = false
  #sourceClosed = false

  constructor (client: DrainClient, persistence: DrainPersistence, source: Readable) {
    this.#client = client
    this.#persistence = persistence
    this.#source = source
    this.out = new Readable({
      objectMode: true,
      read: noop,
      destroy: (err, callback) => {
        // aedes' pipeline went away (it failed, or the drain did): read no further
        this.#stop()
        callback(err)
      }
    })
    const wake = (): void => {
      const w = this.#wake
      this.#wake = undefined
      w?.()
    }
    source.on('readable', wake)
    source.once('end', () => { this.#sourceEnded = true; wake() })
    source.once('error', (err: Error) => { this.#sourceError = err; wake() })
    source.once('close', () => { this.#sourceClosed = true; wake() })
    this.#run().then(() => {
      if (!this.out.destroyed) this.out.push(null)
    }, (err: Error) => {
      this.#stop()
      this.out.destroy(err)
    })
  }

  async #run (): Promise<void> {
    const client = this.#client
    const persistence = this.#persistence
    const packets: Outgoing[] = []
    while (true) {
      await this.#take(packets)
      if (packets.length === 0 || this.#stopped) return
      // as aedes' clearQueue: the messageId first, each packet's update before it is sent
      const updates = new Array<Promise<unknown>>(packets.length)
      for (let i = 0; i < packets.length; i++) {
        updates[i] = persistence.outgoingUpdate(client, packets[i]).then(noop, asError)
      }
      const results = await Promise.all(updates)
      let clears: Array<Promise<unknown>> | undefined
      for (let i = 0; i < packets.length; i++) {
        if (this.#stopped) return
        const packet = packets[i] as Outgoing
        const failed = results[i]
        // as emptyQueueFilter: the failure is the client's error, and the drain goes on
        if (failed !== undefined) {
          client.emit('error', failed as Error)
          continue
        }
        const authorized = packet.cmd === 'publish' ? client.broker.authorizeForward(client, packet) : true
        if (client.clean || (authorized === null || authorized === undefined || authorized === false)) {
          (clears ??= []).push(persistence.outgoingClearMessageId(client, packet))
          continue
        }
        const full = this.#write(packet)
        if (full !== undefined) {
          await full
          if (this.#stopped) return
        }
      }
      if (clears !== undefined) await Promise.all(clears)
    }
  }

  /** Writes one packet as aedes' write() does; when the socket is full, gives what resolves at its 'drain'. */
  #write (packet: Outgoing): Promise<void> | undefined {
    const client = this.#client
    // aedes' write checks connecting || connected; a closed client (a takeover closed it) is no longer either in effect
    if (!(client.connecting === true || client.connected === true) || client.closed === true || client.conn.destroyed) {
      throw new Error('connection closed')
    }
    let written: boolean
    try {
      written = mqttPacket.writeToStream(packet as unknown as mqttPacket.Packet, client.conn)
    } catch {
      throw new Error('packet received not valid')
    }
    if (written || client.errored === true) return undefined
    return new Promise<void>((resolve, reject) => {
      client.waitForDrain((err) => { if (err) reject(err); else resolve() })
    })
  }

  /** Fills `packets` with what the source has read (at least one, unless it ended), as QoSPackets. */
  async #take (packets: Outgoing[]): Promise<void> {
    packets.length = 0
    const source = this.#source
    const client = this.#client
    while (true) {
      if (this.#stopped) return
      if (this.#sourceError !== undefined) throw this.#sourceError
      let data: Queued | null
      while (packets.length < MAX_BATCH && (data = source.read() as Queued | null) !== null) {
        // as aedes' QoSPacket: a packet sent before keeps its messageId, others take the client's next
        const packet = new Packet(data, client.broker)
        if (!data.messageId) {
          packet.messageId = client._nextId
          client._nextId = client._nextId >= 65535 ? 1 : client._nextId + 1
        } else {
          packet.messageId = data.messageId
        }
        packets.push(packet)
      }
      if (packets.length > 0) return
      if (this.#sourceEnded) return
      if (this.#sourceClosed) throw new Error('the queue\'s stream closed before its end')
      await new Promise<void>(resolve => { this.#wake = resolve })
    }
  }

  #stop (): void {
    if (this.#stopped) return
    this.#stopped = true
    // the source's reader went away: it closes its store iterator and ends its handover
    if (!this.#sourceEnded) this.#source.destroy()
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }
}

function asError (err: unknown): unknown {
  return err ?? new Error('outgoingUpdate failed')
}

function noop (): void {}
