import type { Aedes, Client } from 'aedes'
import type { Logger } from 'pino'
import type { Access } from './access.js'
import { remoteAddressOf } from './create-aedes.js'

export interface ConnectionLogOptions {
  access: Access
  log: Logger
  /** Whether the server is closing: then every connection ends for that reason. */
  closing: () => boolean
}

/** What aedes keeps on a client and its broker but does not declare (aedes 1.2; test/broker/connection-log.test.ts trips if it changes). */
interface ClientInternals { _disconnected?: boolean }
interface BrokerInternals { clients: Record<string, Client | undefined> }

/**
 * The life of each connection in the log, as Mosquitto writes it: who
 * connected from where (info), and when it ended, why (info): the client
 * sent DISCONNECT, its connection failed (the error: keep alive timeout,
 * reset, a protocol violation), a newer connection with the same client id
 * took the session over (on this node or, with Redis, on another), or the
 * server closed it. Publishes are logged at debug.
 */
export function logConnections (aedes: Aedes, options: ConnectionLogOptions): void {
  const { access, log, closing } = options
  const broker = aedes as unknown as BrokerInternals
  /** The first error of each client, which is what ended it. */
  const errors = new WeakMap<Client, string>()
  /** Clients a connection on another node took over, by the node's id. */
  const takenByNode = new WeakMap<Client, string>()

  aedes.on('client', (client) => {
    log.info({ clientId: client.id, user: access.identity(client)?.user ?? null, address: remoteAddressOf(client), clean: client.clean }, 'client connected')
  })
  aedes.on('clientError', (client, err) => {
    if (!errors.has(client)) errors.set(client, err.message)
  })
  aedes.on('clientDisconnect', (client) => {
    const fields = { clientId: client.id, user: access.identity(client)?.user ?? null }
    if ((client as ClientInternals)._disconnected === true) return log.info({ ...fields, reason: 'client sent DISCONNECT' }, 'client disconnected')
    const error = errors.get(client)
    if (error !== undefined) return log.info({ ...fields, reason: error }, 'client disconnected')
    if (closing()) return log.info({ ...fields, reason: 'server closing' }, 'client disconnected')
    // A takeover closes the old client and registers the new one in the same
    // turn (aedes registerClient), so by the next microtask the id has its new owner.
    queueMicrotask(() => {
      const node = takenByNode.get(client)
      const now = broker.clients[client.id]
      const reason = node !== undefined
        ? `session taken over by a connection on node ${node}`
        : now !== undefined && now !== client ? 'session taken over by a new connection with the same client id' : 'connection closed'
      log.info({ ...fields, reason }, 'client disconnected')
    })
  })
  // With Redis, a connection on another node announces its client id here, and aedes closes ours.
  aedes.subscribe('$SYS/+/new/clients', (packet, done) => {
    const node = packet.topic.split('/')[1]!
    const client = broker.clients[packet.payload.toString()]
    if (node !== aedes.id && client !== undefined) takenByNode.set(client, node)
    done()
  }, () => {})
  aedes.on('publish', (packet, client) => {
    // IM publishes are stored in their conversation and reach aedes renamed $hail/discarded (create-aedes.ts).
    if (client === null || !log.isLevelEnabled('debug') || packet.topic === '$hail/discarded') return
    log.debug({ clientId: client.id, topic: packet.topic, qos: packet.qos, retain: packet.retain, bytes: packet.payload.length }, 'publish')
  })
}
