import { z } from 'zod'
import { callsSchema, configSchema } from '../index.js'

/**
 * Everything the `hail` daemon can be told, in one table: the flag, its
 * `HAIL_*` variable, where it lands in the config (which is also its key in a
 * config file) and its help. load-config.ts parses from this table and
 * help.ts prints it, so the two cannot drift apart.
 */

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = typeof logLevels[number]

/** JSON lines for log collectors, or pino-pretty's coloured lines for a person at a terminal. */
export const logFormats = ['json', 'pretty'] as const

/** The broker's options plus the keys only the CLI reads; strict like the broker's. */
export const cliConfigSchema = configSchema.extend({
  /** pino level of the JSON log written to stdout. */
  logLevel: z.enum(logLevels).default('info'),
  /** How log lines are written to stdout. */
  logFormat: z.enum(logFormats).default('json'),
  /** Calls (bridge/calls-config.ts). */
  calls: callsSchema.default(() => callsSchema.parse({}))
})

export type CliConfig = z.output<typeof cliConfigSchema>

/**
 * How a flag or variable's text becomes a value: `path` resolves against the
 * cwd, `port` also takes `off` (null: listener disabled), `count` is a whole
 * number, `boolean` is a switch as a flag and true/false/1/0 as a variable,
 * `choice` is one of the spec's `choices`.
 */
export type OptionKind = 'path' | 'text' | 'port' | 'count' | 'boolean' | 'choice'

export interface OptionSpec {
  /** Long flag, without the dashes. */
  readonly flag: string
  readonly short?: string
  readonly env: string
  /** Path in the config object; null for --config, which names the file instead. */
  readonly key: readonly string[] | null
  readonly kind: OptionKind
  /** Placeholder of the value in --help, as in `--mqtt-port PORT`. */
  readonly arg?: string
  /** For `choice`: what a value is called in errors, and the values. */
  readonly choices?: { readonly name: string, readonly values: readonly string[] }
  /** Also accept `--no-<flag>` (a flag can then undo a file or variable). */
  readonly negatable?: boolean
  readonly help: string
}

export const configFileOption: OptionSpec = {
  flag: 'config',
  short: 'c',
  env: 'HAIL_CONFIG',
  key: null,
  kind: 'path',
  arg: 'FILE',
  help: 'Config file, JSON (.json) or YAML (.yaml, .yml). Its keys are the "file" names below; unknown keys are an error. Paths in it are relative to its own directory.'
}

const listenerOptions: OptionSpec[] = [
  { flag: 'host', env: 'HAIL_HOST', key: ['host'], kind: 'text', arg: 'ADDR', help: 'Address every listener binds.' },
  { flag: 'mqtt-port', env: 'HAIL_MQTT_PORT', key: ['mqttPort'], kind: 'port', arg: 'PORT', help: 'MQTT over TCP.' },
  { flag: 'http-port', env: 'HAIL_HTTP_PORT', key: ['httpPort'], kind: 'port', arg: 'PORT', help: 'HTTP: MQTT over WebSocket at /mqtt, health at /healthz, Prometheus metrics at /metrics.' },
  { flag: 'mqtts-port', env: 'HAIL_MQTTS_PORT', key: ['mqttsPort'], kind: 'port', arg: 'PORT', help: 'MQTT over TLS; opened only with a certificate and key.' },
  { flag: 'wss-port', env: 'HAIL_WSS_PORT', key: ['wssPort'], kind: 'port', arg: 'PORT', help: 'HTTPS: MQTT over secure WebSocket at /mqtt; opened only with a certificate and key.' },
  { flag: 'tls-cert', env: 'HAIL_TLS_CERT', key: ['tls', 'cert'], kind: 'path', arg: 'FILE', help: 'PEM certificate chain for the TLS listeners; give --tls-key with it.' },
  { flag: 'tls-key', env: 'HAIL_TLS_KEY', key: ['tls', 'key'], kind: 'path', arg: 'FILE', help: 'PEM private key for the TLS listeners; give --tls-cert with it.' }
]

const accessOptions: OptionSpec[] = [
  { flag: 'allow-anonymous', env: 'HAIL_ALLOW_ANONYMOUS', key: ['allowAnonymous'], kind: 'boolean', negatable: true, help: 'Accept clients without credentials. Without --acl they may then use every topic outside Hail\'s own (im/, $SYS/, $hail/): a plain broker for development and device fleets.' },
  { flag: 'acl', env: 'HAIL_ACL', key: ['acl'], kind: 'path', arg: 'FILE', help: 'Mosquitto-style ACL file for the topics outside Hail\'s own (im/, $SYS/, $hail/). Without one, --allow-anonymous opens them to all and otherwise nobody may use them.' },
  { flag: 'sys-interval', env: 'HAIL_SYS_INTERVAL', key: ['sysInterval'], kind: 'count', arg: 'SECONDS', help: 'Seconds between updates of the broker\'s status on $SYS/broker/... (clients, messages, bytes, load, uptime, version), as in Mosquitto; admin users (and the ACL file\'s read rules) may read it. 0 publishes none.' }
]

const limitOptions: OptionSpec[] = [
  { flag: 'max-packet-size', env: 'HAIL_MAX_PACKET_SIZE', key: ['limits', 'maxPacketSize'], kind: 'count', arg: 'BYTES', help: 'Largest MQTT packet accepted; a client that sends a bigger one is disconnected.' },
  { flag: 'max-topic-levels', env: 'HAIL_MAX_TOPIC_LEVELS', key: ['limits', 'maxTopicLevels'], kind: 'count', arg: 'N', help: 'Most levels in a topic or subscription filter (100 at most).' },
  { flag: 'max-inflight', env: 'HAIL_MAX_INFLIGHT', key: ['limits', 'maxInflight'], kind: 'count', arg: 'N', help: 'Inbound QoS 2 messages a client may leave awaiting PUBREL.' },
  { flag: 'max-queue', env: 'HAIL_MAX_QUEUE', key: ['limits', 'maxQueue'], kind: 'count', arg: 'N', help: 'Messages kept for one offline session; newer ones are dropped and counted.' },
  { flag: 'max-live-queue-bytes', env: 'HAIL_MAX_LIVE_QUEUE_BYTES', key: ['limits', 'maxLiveQueueBytes'], kind: 'count', arg: 'BYTES', help: 'Bytes that deliveries sent to connected clients and not yet acknowledged may hold in memory on the node; past them deliveries are queued on disk and IM senders wait for their PUBACK.' },
  { flag: 'drain-timeout', env: 'HAIL_DRAIN_TIMEOUT', key: ['limits', 'drainTimeout'], kind: 'count', arg: 'MS', help: 'Milliseconds a client may leave its socket undrained before it is disconnected.' },
  { flag: 'send-buffer', env: 'HAIL_SEND_BUFFER', key: ['limits', 'sendBuffer'], kind: 'count', arg: 'BYTES', help: 'Unsent bytes a client that does not read may hold; past them its QoS 0 messages are dropped and a QoS 1 or 2 one disconnects it.' },
  { flag: 'connect-timeout', env: 'HAIL_CONNECT_TIMEOUT', key: ['limits', 'connectTimeout'], kind: 'count', arg: 'MS', help: 'Milliseconds from TCP accept to CONNECT before the socket is closed.' },
  { flag: 'allow-control-characters', env: 'HAIL_ALLOW_CONTROL_CHARACTERS', key: ['limits', 'allowControlCharacters'], kind: 'boolean', negatable: true, help: 'Accept control characters (U+0001-U+001F, U+007F-U+009F) in client ids, user names and topics; refused by default, as mosquitto does.' },
  { flag: 'max-client-id-length', env: 'HAIL_MAX_CLIENT_ID_LENGTH', key: ['limits', 'maxClientIdLength'], kind: 'count', arg: 'N', help: 'Longest client identifier, in characters.' }
]

const daemonOptions: OptionSpec[] = [
  { flag: 'data', env: 'HAIL_DATA', key: ['dataDir'], kind: 'path', arg: 'DIR', help: 'Directory of the embedded store; created if missing. One process at a time may use it.' },
  { flag: 'log-level', env: 'HAIL_LOG_LEVEL', key: ['logLevel'], kind: 'choice', choices: { name: 'log level', values: logLevels }, arg: 'LEVEL', help: `Least severe log line written to stdout: ${logLevels.join(', ')}. At debug and trace a startup error also prints its stack. SIGHUP reads it again.` },
  { flag: 'log-format', env: 'HAIL_LOG_FORMAT', key: ['logFormat'], kind: 'choice', choices: { name: 'log format', values: logFormats }, arg: 'FORMAT', help: 'json: one JSON object per line (pino), for journald, Docker and log collectors; pretty: one coloured, human-readable line each (pino-pretty), for a terminal.' }
]

const scaleOutOptions: OptionSpec[] = [
  { flag: 'redis', env: 'HAIL_REDIS', key: ['redis'], kind: 'text', arg: 'URL', help: 'redis://host:port/db shared by several nodes: sessions, offline queues, routing between nodes, users and conversations move there (files stay in --data). Redis needs appendonly yes and appendfsync always for "PUBACK means durable".' },
  { flag: 'redis-require-fsync', env: 'HAIL_REDIS_REQUIRE_FSYNC', key: ['redisRequireFsync'], kind: 'boolean', negatable: true, help: 'Refuse to start when Redis does not fsync every write (appendonly yes, appendfsync always); without it Hail only logs a warning.' }
]

const callOptions: OptionSpec[] = [
  { flag: 'media-port-min', env: 'HAIL_MEDIA_PORT_MIN', key: ['calls', 'mediaPortMin'], kind: 'count', arg: 'PORT', help: 'Lowest UDP port of the media relay (one per call participant).' },
  { flag: 'media-port-max', env: 'HAIL_MEDIA_PORT_MAX', key: ['calls', 'mediaPortMax'], kind: 'count', arg: 'PORT', help: 'Highest UDP port of the media relay.' },
  { flag: 'media-workers', env: 'HAIL_MEDIA_WORKERS', key: ['calls', 'mediaWorkers'], kind: 'count', arg: 'N', help: 'Worker threads the media relay spreads its calls over (each with a slice of the port range); 0 or 1 runs them in the main thread. Default: one per core, at most 8.' },
  { flag: 'media-listen', env: 'HAIL_MEDIA_LISTEN', key: ['calls', 'mediaListenAddress'], kind: 'text', arg: 'ADDR', help: 'Address the media UDP sockets bind. The default (0.0.0.0) binds each announced address that is local to this machine, so replies leave from the address devices sent to.' },
  { flag: 'media-announce', env: 'HAIL_MEDIA_ANNOUNCE', key: ['calls', 'announcedAddresses'], kind: 'text', arg: 'ADDRS', help: 'Comma-separated addresses put in the relay\'s ICE candidates: what devices can reach.' },
  { flag: 'ice-servers', env: 'HAIL_ICE_SERVERS', key: ['calls', 'iceServers'], kind: 'text', arg: 'URLS', help: 'Comma-separated stun:/turn: URLs handed to devices (a config file can give username and credential). Hail itself never contacts them.' },
  { flag: 'ring-timeout', env: 'HAIL_RING_TIMEOUT', key: ['calls', 'ringTimeoutMs'], kind: 'count', arg: 'MS', help: 'Milliseconds a call rings before it is missed.' },
  { flag: 'invites-per-minute', env: 'HAIL_INVITES_PER_MINUTE', key: ['calls', 'invitesPerMinute'], kind: 'count', arg: 'N', help: 'Calls a user may place per minute on average (burst: calls.inviteBurst in a file, 5 by default); more get HAIL_ERR_RATE_LIMITED.' },
  { flag: 'max-call-participants', env: 'HAIL_MAX_CALL_PARTICIPANTS', key: ['calls', 'maxParticipants'], kind: 'count', arg: 'N', help: 'Most devices in one call.' },
  { flag: 'call-stats-interval', env: 'HAIL_CALL_STATS_INTERVAL', key: ['calls', 'statsIntervalMs'], kind: 'count', arg: 'MS', help: 'Milliseconds between live call quality figures (im/call/{id}/stats and /metrics); default 2000.' }
]

/** The sections of --help, in order; every option that sets a config key. */
export const optionGroups: ReadonlyArray<{ title: string, options: readonly OptionSpec[] }> = [
  { title: 'Daemon', options: daemonOptions },
  { title: 'Listeners', options: listenerOptions },
  { title: 'Access', options: accessOptions },
  { title: 'Limits', options: limitOptions },
  { title: 'Calls', options: callOptions },
  { title: 'Scale out', options: scaleOutOptions }
]

export const configOptions: readonly OptionSpec[] = optionGroups.flatMap((group) => group.options)

/** Every option the start command takes, --config included. */
export const startOptions: readonly OptionSpec[] = [configFileOption, ...configOptions]
