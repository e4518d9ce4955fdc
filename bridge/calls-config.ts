import { availableParallelism } from 'node:os'
import { z } from 'zod'
import { ConfigError, describeIssues } from '../broker/index.js'

const port = z.number().int().min(1).max(65535)
const positiveInt = z.number().int().positive()

/** A list from a config file (array) or from a flag / variable (comma-separated text). */
const list = z.union([
  z.array(z.string().trim().min(1)),
  z.string().transform((text) => text.split(',').map((s) => s.trim()).filter((s) => s !== ''))
])

const iceUrl = z.string().regex(/^(stun|stuns|turn|turns):[^\s]+$/, 'must be a stun:, stuns:, turn: or turns: URL')
const iceServer = z.strictObject({
  urls: z.union([iceUrl, z.array(iceUrl).min(1)]),
  username: z.string().min(1).optional(),
  credential: z.string().min(1).optional()
})

/**
 * Calls (bridge/, docs/protocol.md "Calls"): the media relay's UDP ports and
 * addresses, what clients are told about STUN/TURN, and the call limits.
 * The server itself never contacts the ICE servers listed here.
 */
export const callsSchema = z.strictObject({
  /** Lowest UDP port the media relay (SFU) binds for ICE. */
  mediaPortMin: port.default(40000),
  /** Highest UDP port (inclusive). Each call participant uses one. */
  mediaPortMax: port.default(40999),
  /**
   * Worker threads the media relay spreads its rooms over (a room lives on
   * one, its ports a slice of the range); 0 or 1: rooms run in the main
   * thread. Default: one per core, at most 8.
   */
  mediaWorkers: z.number().int().min(0).max(64).default(() => Math.min(availableParallelism(), 8)),
  /** Address the media UDP sockets bind. */
  mediaListenAddress: z.string().min(1).default('0.0.0.0'),
  /** Addresses announced in the server's ICE candidates: what devices can reach. */
  announcedAddresses: list.pipe(z.array(z.string().min(1)).min(1, 'needs at least one address')).default(['127.0.0.1']),
  /** STUN/TURN servers handed to devices (objects in a file; comma-separated URLs in a flag). */
  iceServers: z.union([
    z.array(iceServer),
    list.pipe(z.array(iceUrl)).transform((urls) => urls.map((url) => ({ urls: url })))
  ]).default([]),
  /** Milliseconds a call rings before it is missed. */
  ringTimeoutMs: positiveInt.max(600_000).default(30_000),
  /** Calls a user may place per minute on average ... */
  invitesPerMinute: positiveInt.default(10),
  /** ... and in a burst; more get HAIL_ERR_RATE_LIMITED. */
  inviteBurst: positiveInt.default(5),
  /** Most devices in one call at once. */
  maxParticipants: z.number().int().min(2).max(100).default(16),
  /** Milliseconds between live quality figures (im/call/{callId}/stats, /metrics). */
  statsIntervalMs: z.number().int().min(100).max(600_000).default(2000)
}).refine((c) => c.mediaPortMin <= c.mediaPortMax, { message: 'mediaPortMin must not be above mediaPortMax' })

export type CallsConfig = z.output<typeof callsSchema>
export type CallsConfigInput = z.input<typeof callsSchema>

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
