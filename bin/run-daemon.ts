import { constants } from 'node:os'
import { pino } from 'pino'
import { createServer, type ServerAddresses } from '../index.js'
import type { CliConfig } from './options.js'

export interface DaemonOptions {
  /** Logged at startup so a log file says which build wrote it. */
  version: string
  /** `HAIL_*` variables that set nothing (likely typos), to warn about. */
  unknownEnv?: readonly string[]
}

/**
 * Run the broker until a signal stops it and resolve with the exit code.
 * Rejects with the HailError of a failed start (the caller prints it); by
 * then listen() has already closed whatever it had opened.
 *
 * The first SIGTERM/SIGINT closes the server gracefully (exit 0). A second
 * one while that runs exits at once with 128 + the signal's number (143 for
 * SIGTERM, 130 for SIGINT), the shell convention for death by signal.
 */
export async function runDaemon (config: Readonly<CliConfig>, options: DaemonOptions): Promise<number> {
  const { logLevel, ...serverOptions } = config
  // JSON to stdout, asynchronously; pino flushes it when the process exits.
  const logger = pino({ level: logLevel, name: 'hail' })
  for (const name of options.unknownEnv ?? []) {
    logger.warn({ variable: name }, 'unknown HAIL_* environment variable ignored; see hail --help')
  }
  // TURN credentials, the push secret and a Redis URL's password must not reach the logs.
  logger.child({}, { redact: { paths: ['config.calls.iceServers[*].credential', 'config.push.secret', 'config.redis'], censor: '[redacted]' } })
    .debug({ config }, 'configuration')

  const server = createServer({ ...serverOptions, logger })
  const listening = server.listen()

  let stopping = false
  const stopped = new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting without waiting for close')
        process.exit(128 + constants.signals[signal])
      }
      stopping = true
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

  try {
    const addresses = await listening
    logger.info({ version: options.version, pid: process.pid, urls: urlsOf(addresses) }, 'hail started')
  } catch (err) {
    if (!stopping) throw err
  }
  return await stopped
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
