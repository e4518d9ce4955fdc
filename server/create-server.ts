import { HailServer, parseConfig, type CreateServerOptions, type ImExtension, type ImHost } from '../broker/index.js'
import {
  CallBridge, createMediaRooms, LocalCallOwnership, parseCallsConfig, RedisCallOwnership,
  type CallOwnership, type CallsConfig, type CallsConfigInput
} from '../bridge/index.js'
import { webRoutes } from '../web/index.js'

export interface ServerOptions extends CreateServerOptions {
  /** Calls: media ports and addresses, STUN/TURN for clients, limits (bridge/calls-config.ts). */
  calls?: CallsConfigInput
  /** Which node runs each call; by default in process alone, and a lease per call in Redis mode. */
  callOwnership?: CallOwnership
}

/**
 * The whole daemon: the broker (MQTT, IM, stores and listeners: broker/),
 * the call bridge plugged into its IM engine with a media relay made on the
 * first call that needs one (bridge/, media/), and the web pages on its HTTP
 * port (web/). close() stops accepting, hangs up every call (writing its
 * record), closes the media, then the broker and its stores.
 */
export class CallServer extends HailServer {
  /** Call signaling: the call.* methods, im/call/ topics, ringing, records. */
  readonly calls: CallBridge
  readonly callsConfig: Readonly<CallsConfig>

  constructor (options: ServerOptions = {}) {
    const { calls, callOwnership, imExtensions = [], ...rest } = options
    const callsConfig = parseCallsConfig(calls)
    const { logger, authenticate: _authenticate, authorize: _authorize, ...configInput } = rest
    // Several nodes on one Redis: each call runs on the node holding its lease; the others forward to it.
    const redis = parseConfig(configInput).redis
    const ownership = callOwnership ?? (redis === null
      ? new LocalCallOwnership()
      : new RedisCallOwnership({ redis, logger: logger?.child({ part: 'call-cluster' }) }))
    const bridge = new CallBridge({
      config: callsConfig,
      media: () => createMediaRooms(callsConfig, logger?.child({ part: 'media' })),
      ownership,
      logger: logger?.child({ part: 'calls' })
    })
    // The extension is made once the stores are open, so the server (set just below) knows its Redis by then.
    const self: { server?: HailServer } = {}
    const attach = (host: ImHost): ImExtension => {
      const redis = self.server?.sharedRedis
      if (redis !== undefined) bridge.shareLimits(redis)
      return bridge.attach(host)
    }
    super({ ...rest, imExtensions: [...imExtensions, attach] })
    self.server = this
    this.calls = bridge
    this.callsConfig = callsConfig
    bridge.registerMetrics(this.metrics.registry)
    // The emitter (shared by the nodes in Redis mode) exists once the server listens.
    this.once('listening', () => {
      if (ownership instanceof RedisCallOwnership && callOwnership === undefined && this.runId !== undefined) {
        ownership.identify(this.runId, this.logger.child({ part: 'call-cluster' }))
      }
      bridge.start(this.emitter)
        .catch((err: unknown) => this.logger.error({ err }, 'calls: could not join the cluster; calls placed on other nodes fail here'))
    })
    // The web app (web/): the page at /, /call and /dashboard, its assets, sign-in and the dashboard's figures.
    for (const [path, route] of webRoutes(this)) this.routes.set(path, route)
  }
}

/**
 * Create a Hail server; call listen() to start it. Throws ConfigError on
 * bad options. The media relay (werift) is made on the first call that
 * needs it, so a server with no calls opens no UDP sockets.
 */
export function createServer (options: ServerOptions = {}): CallServer {
  return new CallServer(options)
}
