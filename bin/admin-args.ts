import { parseArgs } from 'node:util'
import { UsageError } from './errors.js'
import { loadConfig, suggestFlag } from './load-config.js'

export interface AdminArgsSpec {
  /** The command as typed after `hail`, for messages: `user add`. */
  command: string
  /** Names of the positional arguments, in order, as in the usage: ['NAME']. */
  positionals: readonly string[]
  /** The command's own options beyond --data and --config. */
  options?: Record<string, { type: 'string' | 'boolean', arg?: string }>
}

export interface AdminArgs {
  /** Where the data directory is, from --data, --config, HAIL_DATA, HAIL_CONFIG or the default, as for `hail start`. */
  dataDir: string
  /** The shared Redis (--redis, HAIL_REDIS or the config file): users live there instead of the data directory. */
  redis: string | null
  positionals: string[]
  values: Record<string, string | boolean | undefined>
}

/**
 * The command line of an admin subcommand: its positionals, its own options,
 * and --data / --config / --redis, which (with HAIL_DATA, HAIL_CONFIG and the default)
 * find the data directory exactly as `hail start` does, through loadConfig.
 * Throws UsageError, worded like the daemon's, for anything else.
 */
export function parseAdminArgs (argv: readonly string[], spec: AdminArgsSpec, io: { env: NodeJS.ProcessEnv, cwd: string }): AdminArgs {
  const own = spec.options ?? {}
  const options: Record<string, { type: 'string' | 'boolean', short?: string }> = {
    data: { type: 'string' },
    config: { type: 'string', short: 'c' },
    redis: { type: 'string' }
  }
  for (const [name, { type }] of Object.entries(own)) options[name] = { type }
  const { tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true })

  const configArgv: string[] = []
  const positionals: string[] = []
  const values: Record<string, string | boolean | undefined> = {}
  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue
    if (token.kind === 'positional') {
      positionals.push(token.value)
      continue
    }
    const option = options[token.name]
    if (option === undefined) throw new UsageError(`${spec.command}: unknown option '${token.rawName}'${suggestFlag(token.rawName, Object.keys(options))}`)
    if (option.type === 'boolean') {
      if (token.inlineValue === true) throw new UsageError(`${spec.command}: option '${token.rawName}' takes no value`)
      values[token.name] = true
      continue
    }
    if (token.value === undefined || (token.inlineValue !== true && /^--?[A-Za-z-]/.test(token.value))) {
      const arg = own[token.name]?.arg ?? ({ data: 'DIR', redis: 'URL' } as Record<string, string>)[token.name] ?? 'FILE'
      throw new UsageError(`${spec.command}: option '${token.rawName}' needs a value, as in ${token.rawName} ${arg}`)
    }
    if (token.name === 'data' || token.name === 'config' || token.name === 'redis') configArgv.push(`--${token.name}`, token.value)
    else values[token.name] = token.value
  }
  if (positionals.length > spec.positionals.length) {
    throw new UsageError(`${spec.command}: unexpected argument '${positionals[spec.positionals.length]!}'`)
  }
  if (positionals.length < spec.positionals.length) {
    throw new UsageError(`${spec.command}: missing ${spec.positionals.slice(positionals.length).join(' ')}`)
  }
  const { dataDir, redis } = loadConfig({ argv: configArgv, env: io.env, cwd: io.cwd })
  return { dataDir, redis, positionals, values }
}
