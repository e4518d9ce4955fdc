import { z } from 'zod'
import { configSchema } from '../broker/index.js'

/**
 * Everything the `hail` daemon can be told, in one table: the flag, its
 * `HAIL_*` variable, where it lands in the config (which is also its key in a
 * config file) and its help. load-config.ts parses from this table and
 * help.ts prints it, so the two cannot drift apart.
 */

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = typeof logLevels[number]

/** The broker's options plus the keys only the CLI reads; strict like the broker's. */
export const cliConfigSchema = configSchema.extend({
  /** pino level of the JSON log written to stdout. */
  logLevel: z.enum(logLevels).default('info')
})

export type CliConfig = z.output<typeof cliConfigSchema>

/**
 * How a flag or variable's text becomes a value: `path` resolves against the
 * cwd, `port` also takes `off` (null: listener disabled), `count` is a whole
 * number, `boolean` is a switch as a flag and true/false/1/0 as a variable.
 */
export type OptionKind = 'path' | 'text' | 'port' | 'count' | 'boolean' | 'level'

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
  { flag: 'acl', env: 'HAIL_ACL', key: ['acl'], kind: 'path', arg: 'FILE', help: 'Mosquitto-style ACL file for the topics outside Hail\'s own (im/, $SYS/, $hail/). Without one, --allow-anonymous opens them to all and otherwise nobody may use them.' }
]

const limitOptions: OptionSpec[] = [
  { flag: 'max-packet-size', env: 'HAIL_MAX_PACKET_SIZE', key: ['limits', 'maxPacketSize'], kind: 'count', arg: 'BYTES', help: 'Largest MQTT packet accepted; a client that sends a bigger one is disconnected.' },
  { flag: 'max-topic-levels', env: 'HAIL_MAX_TOPIC_LEVELS', key: ['limits', 'maxTopicLevels'], kind: 'count', arg: 'N', help: 'Most levels in a topic or subscription filter (100 at most).' },
  { flag: 'max-inflight', env: 'HAIL_MAX_INFLIGHT', key: ['limits', 'maxInflight'], kind: 'count', arg: 'N', help: 'Inbound QoS 2 messages a client may leave awaiting PUBREL.' },
  { flag: 'max-queue', env: 'HAIL_MAX_QUEUE', key: ['limits', 'maxQueue'], kind: 'count', arg: 'N', help: 'Messages kept for one offline session; newer ones are dropped and counted.' },
  { flag: 'drain-timeout', env: 'HAIL_DRAIN_TIMEOUT', key: ['limits', 'drainTimeout'], kind: 'count', arg: 'MS', help: 'Milliseconds a client may leave its socket undrained before it is disconnected.' },
  { flag: 'connect-timeout', env: 'HAIL_CONNECT_TIMEOUT', key: ['limits', 'connectTimeout'], kind: 'count', arg: 'MS', help: 'Milliseconds from TCP accept to CONNECT before the socket is closed.' },
  { flag: 'max-client-id-length', env: 'HAIL_MAX_CLIENT_ID_LENGTH', key: ['limits', 'maxClientIdLength'], kind: 'count', arg: 'N', help: 'Longest client identifier, in characters.' }
]

const daemonOptions: OptionSpec[] = [
  { flag: 'data', env: 'HAIL_DATA', key: ['dataDir'], kind: 'path', arg: 'DIR', help: 'Directory of the embedded store; created if missing. One process at a time may use it.' },
  { flag: 'log-level', env: 'HAIL_LOG_LEVEL', key: ['logLevel'], kind: 'level', arg: 'LEVEL', help: `Least severe JSON log line written to stdout: ${logLevels.join(', ')}. At debug and trace a startup error also prints its stack.` }
]

/** The sections of --help, in order; every option that sets a config key. */
export const optionGroups: ReadonlyArray<{ title: string, options: readonly OptionSpec[] }> = [
  { title: 'Daemon', options: daemonOptions },
  { title: 'Listeners', options: listenerOptions },
  { title: 'Access', options: accessOptions },
  { title: 'Limits', options: limitOptions }
]

export const configOptions: readonly OptionSpec[] = optionGroups.flatMap((group) => group.options)

/** Every option the start command takes, --config included. */
export const startOptions: readonly OptionSpec[] = [configFileOption, ...configOptions]
