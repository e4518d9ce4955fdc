import { isDeepStrictEqual } from 'node:util'
import { constants } from 'node:os'
import { pino, type Logger } from 'pino'
import { createServer, type ServerAddresses } from '../index.js'
import { suggestEnvVar } from './load-config.js'
import type { CliConfig } from './options.js'

export interface DaemonOptions {
  /** Logged at startup so a log file says which build wrote it. */
  version: string
  /** `HAIL_*` variables that set nothing (likely typos), to warn about. */
  unknownEnv?: readonly string[]
  /**
   * The configuration read again from where it came (file, variables,
   * flags), for SIGHUP; throws as loadConfig does. Without it SIGHUP only
   * re-reads the ACL file and TLS files the config names.
   */
  reloadConfig?: () => Readonly<CliConfig>
}

/**
 * A repeat of the signal that started the stop, this soon, is the same
 * request arriving twice (Ctrl-C reaches both npm and hail, and npm passes
 * it on; systemd signals every process of the unit), not a second request.
 */
const REPEAT_WINDOW_MS = 1000

/** What SIGHUP applies to a running server; anything else changed waits for a restart. */
const RELOADED = new Set(['logLevel', 'acl', 'tls'])

/**
 * Run the broker until a signal stops it and resolve with the exit code.
 * Rejects with the HailError of a failed start (the caller prints it); by
 * then listen() has already closed whatever it had opened.
 *
 * The first SIGTERM/SIGINT closes the server gracefully (exit 0). A second
 * one while that runs exits at once with 128 + the signal's number (143 for
 * SIGTERM, 130 for SIGINT), the shell convention for death by signal;
 * a repeat of the first within a second counts as the first. SIGHUP reloads
 * the log level, the ACL file and the TLS certificate without closing a
 * connection; a bad new file is refused with one error line and the running
 * configuration stays.
 */
export async function runDaemon (config: Readonly<CliConfig>, options: DaemonOptions): Promise<number> {
  const { logLevel, logFormat, ...serverOptions } = config
  const logger = await createLogger(logLevel, logFormat)
  for (const name of options.unknownEnv ?? []) {
    logger.warn({ variable: name, didYouMean: suggestEnvVar(name) }, 'unknown HAIL_* environment variable ignored; see hail --help')
  }
  // TURN credentials, the push secret and a Redis URL's password must not reach the logs; what is not set stays null.
  logger.child({}, { redact: { paths: ['config.calls.iceServers[*].credential', 'config.push.secret', 'config.redis'], censor: (value) => value === null ? null : '[redacted]' } })
    .debug({ config }, 'configuration')

  const server = createServer({ ...serverOptions, logger })
  const listening = server.listen()

  let stopping: { signal: NodeJS.Signals, at: number } | undefined
  const stopped = new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping !== undefined) {
        if (signal === stopping.signal && Date.now() - stopping.at < REPEAT_WINDOW_MS) {
          logger.debug({ signal }, 'the same signal again at once: still stopping gracefully')
          return
        }
        logger.warn({ signal }, 'second signal: exiting without waiting for close')
        process.exit(128 + constants.signals[signal])
      }
      stopping = { signal, at: Date.now() }
      logger.info({ signal }, 'stopping: closing listeners, waiting for in-flight writes (a second signal forces exit)')
      // A signal during startup waits for listen() to settle: closing a half-opened store races it.
      listening.catch(() => {})
        .then(async () => { await server.close() })
        .then(() => resolve(0), (err: unknown) => {
          logger.error({ err }, 'close failed')
          resolve(1)
        })
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })

  // One reload at a time, each after the start: a SIGHUP during startup waits for it.
  let running = config
  let reloads: Promise<unknown> = listening
  process.on('SIGHUP', () => {
    reloads = reloads.catch(() => {}).then(async () => {
      if (stopping !== undefined) return
      running = await reload(running)
    })
  })
  const reload = async (current: Readonly<CliConfig>): Promise<Readonly<CliConfig>> => {
    let next: Readonly<CliConfig>
    try {
      next = options.reloadConfig?.() ?? current
      await server.reload({ acl: next.acl, tls: next.tls })
    } catch (err) {
      logger.error(`reload refused, the running configuration stays: ${err instanceof Error ? err.message : String(err)}`)
      return current
    }
    logger.level = next.logLevel
    const changed = Object.keys(next).filter((key) => !isDeepStrictEqual(next[key as keyof CliConfig], current[key as keyof CliConfig]))
    const waiting = changed.filter((key) => !RELOADED.has(key))
    logger.info({ changed: changed.filter((key) => RELOADED.has(key)) }, 'configuration reloaded')
    if (waiting.length > 0) logger.warn({ keys: waiting }, 'these settings changed and take effect at the next start')
    // What runs now: the reloaded keys from the new configuration, the rest as started.
    return { ...current, logLevel: next.logLevel, acl: next.acl, tls: next.tls }
  }

  try {
    const addresses = await listening
    // Among several nodes on one Redis, the daemon's own lines say whose they are too.
    if (config.redis !== null && server.nodeId !== undefined) logger.setBindings({ node: server.nodeId })
    logger.info({ version: options.version, pid: process.pid, urls: urlsOf(addresses) }, 'hail started')
  } catch (err) {
    if (stopping === undefined) throw err
  }
  return await stopped
}

/**
 * JSON to stdout, asynchronously (pino flushes it when the process exits);
 * or, for a terminal, pino-pretty's lines written synchronously, so nothing
 * is lost at exit. pino-pretty loads only when asked for.
 */
async function createLogger (level: CliConfig['logLevel'], format: CliConfig['logFormat']): Promise<Logger> {
  if (format === 'json') return pino({ level, name: 'hail' })
  const { default: pretty } = await import('pino-pretty')
  return pino({ level, name: 'hail' }, pretty({ sync: true, singleLine: true, colorize: process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name' }))
}

/** Where clients connect, as URLs; a wildcard host is kept as bound since the daemon cannot know its public name. */
function urlsOf (addresses: ServerAddresses): Record<string, string> {
  // The HTTP listeners also carry MQTT over WebSocket at /mqtt.
  const schemes = { mqtt: 'mqtt', mqtts: 'mqtts', http: 'http', wss: 'https' } as const
  const urls: Record<string, string> = {}
  for (const [name, scheme] of Object.entries(schemes)) {
    const address = addresses[name as keyof ServerAddresses]
    if (address === undefined) continue
    const host = address.host.includes(':') ? `[${address.host}]` : address.host
    urls[name] = `${scheme}://${host}:${address.port}`
  }
  return urls
}
