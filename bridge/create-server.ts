import { HailServer, type CreateServerOptions, ConfigError, describeIssues } from '../broker/index.js'
import { MediaServer } from '../media/index.js'
import { CallBridge } from './call-bridge.js'
import type { CallEmitter, CallOwnership } from './call-ownership.js'
import { callsSchema, type CallsConfig, type CallsConfigInput } from './calls-config.js'
import type { MediaRooms } from './media-port.js'
import { RedisCallOwnership } from './redis-call-ownership.js'
import { callPageRoutes } from '../web/index.js'

export interface ServerOptions extends CreateServerOptions {
  /** Calls: media ports and addresses, STUN/TURN for clients, limits (bridge/calls-config.ts). */
  calls?: CallsConfigInput
  /** Which node runs each call (scale-out); in-process by default. */
  callOwnership?: CallOwnership
}

/** A Hail server with calls: the broker, its IM engine with the call bridge plugged in, and a lazy media relay. */
export type CallServer = HailServer & { readonly calls: CallBridge, readonly callsConfig: Readonly<CallsConfig> }

/** Validate the calls options; throws ConfigError naming the offending key. */
export function parseCallsConfig (input: unknown, source = 'options'): Readonly<CallsConfig> {
  const result = callsSchema.safeParse(input ?? {})
  if (!result.success) {
    // Name keys as a config file does: calls.mediaPortMin.
    for (const issue of result.error.issues) (issue as { path: PropertyKey[] }).path = ['calls', ...issue.path]
    throw new ConfigError(`${source}: ${describeIssues(result.error)}`, { cause: result.error })
  }
  return Object.freeze(result.data)
}

/**
 * Create a Hail server with calls; call listen() to start it. The media
 * relay (werift) is made on the first call that needs it, so a server with
 * no calls opens no UDP sockets. close() stops accepting, hangs up every
 * call (writing its record), closes the media, then the broker.
 */
export function createServer (options: ServerOptions = {}): CallServer {
  const { calls, callOwnership, imExtensions, ...rest } = options
  const config = parseCallsConfig(calls)
  const logger = rest.logger
  // The factory runs in listen(), after the bridge below exists.
  let bridge: CallBridge | undefined
  const server = new HailServer({ ...rest, imExtensions: [...(imExtensions ?? []), (host) => bridge!.attach(host)] })
  // Several nodes on one Redis: each call runs on the node holding its lease; the others forward to it.
  const redis = server.config.redis
  const ownership = callOwnership ?? (redis === null ? undefined : new RedisCallOwnership({ redis, logger: logger?.child({ part: 'call-cluster' }) }))
  bridge = new CallBridge({
    config,
    media: (): MediaRooms => new MediaServer({
      portRange: { min: config.mediaPortMin, max: config.mediaPortMax },
      listenAddress: config.mediaListenAddress,
      announcedAddresses: [...config.announcedAddresses],
      iceServers: config.iceServers.map((s) => ({ ...s })),
      statsIntervalMs: config.statsIntervalMs,
      logger: logger?.child({ part: 'media' })
    }),
    ownership,
    logger: logger?.child({ part: 'calls' })
  })
  if (ownership?.start !== undefined) {
    const calls = bridge
    // aedes (and its emitter, shared by the nodes) exists once the server listens.
    server.once('listening', () => {
      calls.startCluster((server.aedes as unknown as { mq: CallEmitter }).mq)
        .catch((err: unknown) => server.logger.error({ err }, 'calls: could not join the cluster; calls placed on other nodes fail here'))
    })
  }
  bridge.registerMetrics(server.metrics.registry)
  // The call page (web/): /call, its script, the SDK's modules and mqtt.js, from a fixed list of files.
  for (const [path, route] of callPageRoutes()) server.routes.set(path, route)
  Object.defineProperty(server, 'calls', { value: bridge, enumerable: true })
  Object.defineProperty(server, 'callsConfig', { value: config, enumerable: true })
  return server as CallServer
}
