import { z } from 'zod'
import { ConfigError } from './errors.js'

/**
 * The broker's serialisable options: what a config file, `HAIL_*` variables
 * and flags can set. Parsed once into a frozen object; unknown keys fail.
 * Defaults for limits follow DESIGN.md (Mosquitto, EMQX, LiveKit).
 */
const port = z.number().int().min(0).max(65535)
const positiveInt = z.number().int().positive()

export const limitsSchema = z.strictObject({
  /** Largest MQTT packet accepted, in bytes; checked from the fixed header, before the body is buffered. */
  maxPacketSize: positiveInt.min(64).max(268435455).default(256 * 1024),
  /** Most topic levels in a PUBLISH topic or SUBSCRIBE filter. aedes clamps to 100. */
  maxTopicLevels: positiveInt.max(100).default(32),
  /** Inbound QoS 2 messages a client may have awaiting PUBREL. */
  maxInflight: positiveInt.default(32),
  /** Messages kept for one offline persistent session; newer ones are dropped and counted. */
  maxQueue: positiveInt.default(1000),
  /**
   * Bytes (payload and topic, plus ~256 per copy) that the in-memory queues of
   * deliveries sent to connected clients and not yet acknowledged may hold on
   * the whole node; past it deliveries take the durable queue and the IM
   * fan-out holds senders' PUBACKs (backpressure).
   */
  maxLiveQueueBytes: positiveInt.min(64 * 1024).default(256 * 1024 * 1024),
  /** Milliseconds a slow reader may stay undrained before it is disconnected. */
  drainTimeout: positiveInt.default(30_000),
  /**
   * Bytes a client may leave unsent (it does not read its socket) before the
   * broker stops sending to it: QoS 0 copies are dropped, a QoS 1 or 2 copy
   * disconnects it (a persistent session keeps that message queued).
   */
  sendBuffer: positiveInt.min(64 * 1024).default(4 * 1024 * 1024),
  /** Milliseconds between TCP accept and CONNECT before the socket is closed. */
  connectTimeout: positiveInt.default(10_000),
  /** Most client identifier length, in characters. */
  maxClientIdLength: positiveInt.max(65535).default(128),
  /**
   * Accept control characters (U+0001-U+001F, U+007F-U+009F) in client ids,
   * user names, will topics, topics and filters. MQTT 3.1.1 §1.5.3 lets a
   * server close on them, and Hail does by default, as mosquitto does.
   */
  allowControlCharacters: z.boolean().default(false)
})

export const imSchema = z.strictObject({
  /** Largest payload accepted on im/send and im/cmd, in bytes. */
  maxMessageBytes: positiveInt.max(16 * 1024 * 1024).default(64 * 1024),
  /** Receipts are told to every member only in conversations up to this size. */
  receiptFanoutLimit: positiveInt.default(256),
  /** Milliseconds a user stays online after their last device left (no flapping). */
  presenceDebounceMs: z.number().int().min(0).max(600_000).default(3000),
  /** Keep at most this many newest messages per conversation; null keeps all. */
  retentionMaxCount: positiveInt.nullable().default(null),
  /** Drop messages older than this many milliseconds; null keeps them. */
  retentionMaxAgeMs: positiveInt.nullable().default(null),
  /** Requests (im/send, im/cmd, im/typing) a device may make per second on average ... */
  rateLimitPerSecond: positiveInt.default(500),
  /** ... and at once; more get HAIL_ERR_RATE_LIMITED and are not stored. */
  rateLimitBurst: positiveInt.default(2000),
  /** Sends being handled plus messages stored and not yet fanned out; past it, new sends wait unread and their senders are read no further (backpressure, fanout.ts enter()). */
  maxFanoutBacklog: positiveInt.default(10_000),
  /** Milliseconds between retention passes over all conversations. */
  retentionIntervalMs: positiveInt.default(60 * 60 * 1000)
})

export const filesSchema = z.strictObject({
  /** Largest file a user may upload, in bytes. */
  maxFileBytes: positiveInt.default(100 * 1024 * 1024),
  /** Bytes of files a user may own in total. */
  quotaBytesPerUser: positiveInt.default(1024 * 1024 * 1024),
  /** Size of an MQTT upload chunk; clamped to limits.maxPacketSize less 1 KiB for the topic and header. */
  chunkBytes: positiveInt.min(1024).default(255 * 1024)
})

export const pushSchema = z.strictObject({
  /** The webhook that gets a POST when a message is stored for a user with no device connected; null turns push off. */
  url: z.string().url().refine((u) => /^https?:/i.test(u), 'must be an http or https URL').nullable().default(null),
  /** When set, each POST carries `x-hail-signature: sha256=<hex HMAC-SHA256 of the body>` made with it. */
  secret: z.string().min(1).nullable().default(null),
  /** Milliseconds a user's notifications wait to go out together in one POST. */
  batchMs: z.number().int().min(0).max(60_000).default(500),
  /** POSTs of one batch before it is given up (network errors, 5xx and 429 are retried). */
  maxAttempts: positiveInt.max(20).default(5),
  /** Milliseconds before the first retry; each further one waits twice as long (at most 30 s). */
  backoffMs: positiveInt.max(60_000).default(1000),
  /** Milliseconds one POST may take. */
  timeoutMs: positiveInt.max(120_000).default(10_000),
  /** Notifications waiting or being sent, all users together; more are dropped and counted. */
  maxQueue: positiveInt.default(10_000)
})

export const tlsSchema = z.strictObject({
  /** Path of the PEM certificate chain. */
  cert: z.string().min(1),
  /** Path of the PEM private key. */
  key: z.string().min(1)
})

export const configSchema = z.strictObject({
  /** Directory of the embedded store (level). */
  dataDir: z.string().min(1).default('./hail-data'),
  /** Address every listener binds. */
  host: z.string().min(1).default('0.0.0.0'),
  /** MQTT over TCP; null turns the listener off, 0 picks a free port. */
  mqttPort: port.nullable().default(1883),
  /** HTTP: MQTT over WebSocket at /mqtt, /healthz, /metrics; null turns it off. */
  httpPort: port.nullable().default(8080),
  /** MQTT over TLS; used only when `tls` is set. */
  mqttsPort: port.nullable().default(8883),
  /** HTTPS: MQTT over secure WebSocket at /mqtt; used only when `tls` is set. */
  wssPort: port.nullable().default(8443),
  /** Certificate and key for the TLS listeners; null means no TLS. */
  tls: tlsSchema.nullable().default(null),
  /** Accept clients without credentials (a plain broker for development and device fleets). */
  allowAnonymous: z.boolean().default(false),
  /** Path of a Mosquitto-style ACL file; null means the built-in rules only. */
  acl: z.string().min(1).nullable().default(null),
  /**
   * Seconds between updates of the broker's status on `$SYS/broker/...`
   * (Mosquitto's sys_interval), readable by admins; 0 publishes none.
   */
  sysInterval: z.number().int().min(0).max(86_400).default(10),
  limits: limitsSchema.default(() => limitsSchema.parse({})),
  /** Instant messaging (docs/protocol.md). */
  im: imSchema.default(() => imSchema.parse({})),
  /** Push notifications for users with no device connected (README, "Push"). */
  push: pushSchema.default(() => pushSchema.parse({})),
  /** Files: uploads over MQTT and HTTP, stored under dataDir/files. */
  files: filesSchema.default(() => filesSchema.parse({})),
  /**
   * `redis://[user:password@]host:port/db` of the Redis every node shares:
   * MQTT sessions, routing between nodes and Hail's stores all move there
   * (README, "Scale out"); null keeps everything in dataDir.
   */
  redis: z.string().url().refine((u) => /^rediss?:\/\//i.test(u), 'must be a redis:// or rediss:// URL').nullable().default(null),
  /**
   * Refuse to start when Redis does not fsync every write (`appendonly yes`,
   * `appendfsync always`), which "PUBACK means durable" needs; false only warns.
   */
  redisRequireFsync: z.boolean().default(false)
})

export type HailConfig = z.output<typeof configSchema>
export type HailConfigInput = z.input<typeof configSchema>
export type Limits = HailConfig['limits']

/** Validate options and fill defaults; throws ConfigError naming the offending key. */
export function parseConfig (input: unknown, source = 'options'): Readonly<HailConfig> {
  const result = configSchema.safeParse(input ?? {})
  if (!result.success) {
    throw new ConfigError(`${source}: ${describeIssues(result.error)}`, { cause: result.error })
  }
  return deepFreeze(result.data)
}

/** One line per problem, each naming the key path: "limits.maxQueue: expected number". */
export function describeIssues (error: z.ZodError): string {
  return error.issues.map((issue) => {
    const path = issue.path.join('.')
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((k) => (path ? `${path}.${k}` : k)).join(', ')
      return `unknown key ${keys}`
    }
    return path ? `${path}: ${issue.message}` : issue.message
  }).join('; ')
}

function deepFreeze<T> (value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}
