import type { EventEmitter } from 'node:events'
import type { Duplex } from 'node:stream'
import { Aedes, type AuthenticateError, type Client, type PublishPacket } from 'aedes'
import type { Logger } from 'pino'
import type { Access, Identity } from './access.js'
import type { Authenticate } from './authenticate.js'
import { parseShare } from './shared-subscriptions.js'
import { isSysStatusTopic, isSysTopic } from './reserved-topics.js'
import { clientErrorLimit } from './client-error-limit.js'
import { guardRegistration } from './register-guard.js'
import { drainInTurns, type DrainPersistence } from './queue-drain.js'
import type { Limits } from '../config.js'
import type { DurablePublish } from './durable-publish.js'
import type { Metrics } from '../metrics.js'
import type { MqttPersistence } from '../persistence/mqtt-persistence.js'
import type { MQEmitter } from 'mqemitter'

/** What the broker's hooks hand the IM engine (im/im-layer.ts): the publishes it owns and its clients' lives. */
export interface ImHooks {
  /** Whether a client's publish on `topic` is the engine's to handle. */
  handles: (topic: string) => boolean
  /** Resolves once handled (and a message durably stored); rejects when a store failed (then no PUBACK). */
  publish: (identity: Identity, packet: PublishPacket) => Promise<void>
  connected: (identity: Identity, client: Client) => void
  disconnected: (identity: Identity, client: Client) => void
  /** A delivery passed the access check and goes out; the engine may rewrite its payload in place. */
  forwarding: (packet: PublishPacket) => void
  /** A client acknowledged a QoS 1 delivery. */
  acknowledged: (identity: Identity, packet: { topic?: string, payload?: Buffer | string } | undefined) => void
}

export interface AedesParts {
  /** The broker id aedes stores wills under and announces on its heartbeat: Backend.runId. */
  id: string
  limits: Limits
  persistence: MqttPersistence
  /** Routes publishes: in process, or between nodes (the backend's). */
  mq: MQEmitter
  authenticate: Authenticate
  access: Access
  durable: DurablePublish
  metrics: Metrics
  log: Logger
  /** The IM engine, which owns the publishes on im/send, im/cmd and im/typing. */
  im: ImHooks
}

/**
 * aedes with Hail's hooks: authentication binds an identity to the client;
 * every publish, subscription and delivery is checked by `access`; QoS > 0
 * publishes are journaled before aedes may PUBACK them (durable-publish.ts),
 * and IM publishes are stored in their conversation's log instead.
 */
/** aedes' broker heartbeat: a dead node's wills go out 15-35 s after its last one. */
export const HEARTBEAT_MS = 5000

export function createAedes (parts: AedesParts): Aedes {
  const { limits, persistence, mq, authenticate, access, durable, metrics, log, im } = parts

  const aedes = new Aedes({
    id: parts.id,
    // Other nodes take this one for dead 3 heartbeats after its last and then publish the
    // wills it stored; aedes' default (60 s, checked every 4 min) left a crashed node's wills
    // unpublished for minutes. A heartbeat is one tiny publish.
    heartbeatInterval: HEARTBEAT_MS,
    // a persistent session's queue is sent by Hail, many packets per turn (queue-drain.ts)
    persistence: drainInTurns(persistence as MqttPersistence & DrainPersistence),
    mq,
    connectTimeout: limits.connectTimeout,
    drainTimeout: limits.drainTimeout,
    maxTopicLevels: limits.maxTopicLevels,
    maxClientsIdLength: limits.maxClientIdLength,
    maxInflightInbound: limits.maxInflight,
    authenticate (client, username, password, done) {
      const credentials = { clientId: client.id, username, password, remoteAddress: remoteAddressOf(client) }
      authenticate(credentials).then((result) => {
        if (result.ok) {
          access.bind(client, { user: result.user, clientId: client.id })
          return done(null, true)
        }
        metrics.authFailures.inc()
        log.info({ clientId: client.id, address: credentials.remoteAddress, reason: result.reason }, 'connection refused')
        done(Object.assign(new Error(result.reason), { returnCode: result.returnCode }) as AuthenticateError, false)
      }, (err: unknown) => {
        // The user store could not answer (Redis down or restarting). CONNACK 3 would be
        // truthful, but mqtt.js (by default) and many devices stop reconnecting for good on any
        // refusal; closed without a CONNACK they retry on their own schedule, as after a network
        // fault, and get in once the store answers (README, "Scale out").
        metrics.storeUnavailableCloses.inc()
        log.warn({ err: (err as Error).message, clientId: client.id, address: credentials.remoteAddress }, 'cannot check the login (store unavailable): connection closed without CONNACK, the client will retry')
        client.close()
        done(null, false) // aedes sees the client closed and stops here
      })
    },
    authorizePublish (client, packet, done) {
      if (client === null) return durable.accept(packet, done) // a will of a client long gone: it was authorized when stored
      if (!access.canPublish(client, packet.topic)) {
        // MQTT 3.1.1 cannot refuse a PUBLISH [MQTT-3.3.5-2]: acknowledge it and drop it.
        metrics.aclDenied.inc({ action: 'publish' })
        log.debug({ clientId: client.id, topic: packet.topic }, 'publish refused by access control: dropped')
        discard(packet)
        return done(null)
      }
      metrics.messagesIn.inc({ qos: packet.qos })
      const identity = access.identity(client)
      if (identity !== undefined && im.handles(packet.topic)) {
        // The conversation log is this message's durable copy; the packet itself goes nowhere.
        im.publish(identity, packet).then(() => {
          discard(packet)
          done(null)
        }, (err: Error) => {
          // Not stored, so not acknowledged: the connection closes and the client resends.
          log.error({ err, clientId: client.id, topic: packet.topic }, 'IM publish failed: not acknowledged')
          done(err)
        })
        return
      }
      if (packet.qos === 2 && packet.dup) {
        // A QoS 2 resend that aedes already stored is answered with PUBREC and
        // not published again [MQTT-4.3.3-2], so it must not be journaled twice.
        return persistence.incomingGetPacket(client, packet)
          .then(() => done(null), () => durable.accept(packet, done))
      }
      durable.accept(packet, done)
    },
    authorizeSubscribe (client, subscription, done) {
      // `$share/{group}/{filter}`: the ACL judges the filter itself (shared-subscriptions.ts).
      const share = parseShare(subscription.topic)
      if (share === null) {
        log.debug({ clientId: client.id, filter: subscription.topic }, 'malformed shared subscription refused ($share/{group}/{filter})')
        return done(null, null)
      }
      if (access.canSubscribe(client, share === undefined ? subscription.topic : share.filter)) return done(null, subscription)
      metrics.aclDenied.inc({ action: 'subscribe' })
      log.debug({ clientId: client.id, filter: subscription.topic }, 'subscribe refused by access control')
      done(null, null) // SUBACK 0x80 for this filter [MQTT-3.9.3-2]
    },
    authorizeForward (client, packet) {
      if (access.canReceive(client, packet.topic)) {
        metrics.messagesOut.inc({ qos: packet.qos })
        // a drain writes this very object, a live delivery copies it: both carry the rewrite
        im.forwarding(packet)
        return packet
      }
      // aedes' own announcements ($SYS/{broker id}/new/clients, heartbeats) meet every $SYS/# subscription
      // and are held back as a matter of course (access.ts): not a refusal worth counting.
      if (!isSysTopic(packet.topic) || isSysStatusTopic(packet.topic)) metrics.aclDenied.inc({ action: 'receive' })
      return null
    },
    published (packet, _client, done) {
      durable.published(packet)
      done(null)
    }
  })

  guardRegistration(aedes)

  // aedes emits 'error' when a store write of a publish fails; that publish
  // is never acknowledged as finished and its journal entry is replayed.
  ;(aedes as EventEmitter).on('error', (err: Error) => log.error({ err }, 'broker error'))
  // aedes fails each write pending at a drain timeout with its own error (6-101
  // for one frozen client); the limit was hit once, by one client.
  const drainTimedOut = new WeakSet<Client>()
  aedes.on('clientError', (client: Client, err: Error) => {
    const limit = clientErrorLimit(err)
    if (limit === 'drainTimeout') {
      if (drainTimedOut.has(client)) return
      drainTimedOut.add(client)
    }
    if (limit !== undefined) metrics.limitHits.inc({ limit })
    log.debug({ clientId: client.id, err: err.message }, 'client error')
  })
  aedes.on('connectionError', (client: Client, err: Error) => {
    const limit = clientErrorLimit(err)
    if (limit !== undefined) metrics.limitHits.inc({ limit })
    log.debug({ address: remoteAddressOf(client), err: err.message }, 'connection error')
  })
  aedes.on('client', (client: Client) => {
    access.connected(client)
    const identity = access.identity(client)
    if (identity !== undefined) im.connected(identity, client)
  })
  aedes.on('clientDisconnect', (client: Client) => {
    access.disconnected(client)
    const identity = access.identity(client)
    if (identity !== undefined) im.disconnected(identity, client)
  })
  aedes.on('ack', (packet, client: Client) => {
    const identity = access.identity(client)
    if (identity !== undefined) im.acknowledged(identity, packet as { topic?: string, payload?: Buffer } | undefined)
  })
  return aedes
}

export function remoteAddressOf (client: Client): string | undefined {
  const conn = client.conn as Duplex & { remoteAddress?: string }
  return client.req?.socket?.remoteAddress ?? conn.remoteAddress
}

/**
 * Send a publish where nothing can see it: aedes still acknowledges it per
 * its QoS, but no filter a client may hold matches this topic
 * ([MQTT-4.7.2-1]: wildcards never match topics starting with '$').
 */
function discard (packet: PublishPacket): void {
  packet.topic = '$hail/discarded'
  packet.retain = false
}
