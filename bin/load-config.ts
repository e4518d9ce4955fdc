import { readFileSync } from 'node:fs'
import { dirname, extname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { parse as parseYaml } from 'yaml'
import { ConfigError, describeIssues } from '../index.js'
import { UsageError } from './errors.js'
import { didYouMean, similarNames } from './suggest.js'
import { cliConfigSchema, configFileOption, configOptions, startOptions, type CliConfig, type OptionSpec } from './options.js'

export interface LoadConfigInput {
  /** Arguments after the command name: `hail start --mqtt-port 1884` gives ['--mqtt-port', '1884']. */
  argv: readonly string[]
  env: Readonly<Record<string, string | undefined>>
  /** Directory that relative paths from flags, variables and defaults resolve against. */
  cwd: string
}

/** One value from a flag or a variable, and where it came from for error messages. */
interface Setting {
  spec: OptionSpec
  value: unknown
  source: string
}

/**
 * The daemon's configuration: defaults < config file < `HAIL_*` variables <
 * flags, validated by the broker's schema (strict) plus the CLI's own keys,
 * and frozen. A pure function of its input so tests need not spawn anything.
 *
 * Throws UsageError for a bad command line (exit 2) and ConfigError for a
 * bad variable, file or combination (exit 1); each message names the flag,
 * variable or file and key at fault.
 */
export function loadConfig ({ argv, env, cwd }: LoadConfigInput): Readonly<CliConfig> {
  const flags = readFlags(argv, cwd)
  const vars = readEnv(env, cwd)
  const file = [...vars, ...flags].filter((s) => s.spec === configFileOption).pop()
  const input = file === undefined ? {} : readConfigFile(file.value as string)

  const sources = new Map<string, string>()
  for (const { spec, value, source } of [...vars, ...flags]) {
    if (spec.key === null) continue
    setIn(input, spec.key, value)
    sources.set(spec.key.join('.'), source)
  }
  checkTlsPair(input, sources, file?.value as string | undefined)

  const result = cliConfigSchema.safeParse(input)
  // Each value was checked where it came from, so this only catches what no single source can.
  if (!result.success) throw new ConfigError(`configuration: ${describeIssues(result.error)}`, { cause: result.error })
  const config = result.data
  config.dataDir = resolve(cwd, config.dataDir)
  if (config.acl !== null) config.acl = resolve(cwd, config.acl)
  if (config.tls !== null) config.tls = { cert: resolve(cwd, config.tls.cert), key: resolve(cwd, config.tls.key) }
  return deepFreeze(config)
}

/** `: did you mean --mqtt-port?` for a misspelt long flag; '' for a short one or when nothing is close. */
export function suggestFlag (rawName: string, flags: Iterable<string>): string {
  return rawName.startsWith('--') ? didYouMean(rawName.slice(2), flags, '--') : ''
}

/** The variable a misspelt `HAIL_*` one most likely meant, for the daemon's warning; undefined when none is close. */
export function suggestEnvVar (name: string): string | undefined {
  const similar = similarNames(name.slice('HAIL_'.length), startOptions.map((spec) => spec.env.slice('HAIL_'.length)))
  return similar.length === 0 ? undefined : similar.map((s) => `HAIL_${s}`).join(' or ')
}

/** `HAIL_*` variables that set nothing, most likely misspelt; the daemon warns about them. */
export function unknownEnvVars (env: Readonly<Record<string, string | undefined>>): string[] {
  const known = new Set(startOptions.map((spec) => spec.env))
  return Object.keys(env).filter((name) => name.startsWith('HAIL_') && !known.has(name)).sort()
}

/** Flags by name, `--no-<flag>` included for the negatable ones. */
const flagsByName = new Map<string, { spec: OptionSpec, negated: boolean }>()
for (const spec of startOptions) {
  flagsByName.set(spec.flag, { spec, negated: false })
  if (spec.negatable === true) flagsByName.set(`no-${spec.flag}`, { spec, negated: true })
}
const shortNames = new Map(startOptions.filter((s) => s.short !== undefined).map((s) => [s.short as string, s.flag]))

function readFlags (argv: readonly string[], cwd: string): Setting[] {
  // Non-strict with tokens: parseArgs splits `--a=b`, `-c x` and `--`, and
  // the checks below word the errors (its own strict messages are long).
  // Not a CLI library (commander was weighed for issue 20): its own parsing
  // would bring its own help text, error wording and exit code (1, not 2)
  // for usage errors, and no layering of file < env < flag, all of which
  // are documented here and would have to be overridden back; the one thing
  // it added, "did you mean", is suggest.ts.
  const options: Record<string, { type: 'string' | 'boolean', short?: string }> = {}
  for (const [name, { spec }] of flagsByName) {
    options[name] = { type: spec.kind === 'boolean' ? 'boolean' : 'string' }
  }
  for (const [short, flag] of shortNames) options[flag] = { ...options[flag]!, short }
  const { tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true })

  const settings: Setting[] = []
  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue
    if (token.kind === 'positional') throw new UsageError(`unexpected argument '${token.value}'`)
    const match = flagsByName.get(token.name)
    if (match === undefined) throw new UsageError(`unknown option '${token.rawName}'${suggestFlag(token.rawName, flagsByName.keys())}`)
    const { spec, negated } = match
    const source = token.rawName
    const fail = (problem: string): never => { throw new UsageError(`${source}: ${problem}`) }
    let value: unknown
    if (spec.kind === 'boolean') {
      value = token.inlineValue === true ? parseBoolean(token.value ?? '', fail) !== negated : !negated
    } else {
      if (token.value === undefined || (token.inlineValue !== true && looksLikeOption(token.value))) {
        throw new UsageError(`option '${token.rawName}' needs a value, as in ${token.rawName} ${spec.arg ?? 'VALUE'}`)
      }
      value = convert(spec, token.value, cwd, fail)
    }
    settings.push({ spec, value, source })
  }
  return settings
}

function readEnv (env: LoadConfigInput['env'], cwd: string): Setting[] {
  const settings: Setting[] = []
  for (const spec of startOptions) {
    const text = env[spec.env]
    // Empty counts as unset: compose files and unit files often leave `HAIL_X=` behind.
    if (text === undefined || text === '') continue
    const fail = (problem: string): never => { throw new ConfigError(`${spec.env}: ${problem}`) }
    const value = spec.kind === 'boolean' ? parseBoolean(text, fail) : convert(spec, text, cwd, fail)
    settings.push({ spec, value, source: spec.env })
  }
  return settings
}

/** Text to a value of the option's kind, then checked against the schema's own rule for that key. */
function convert (spec: OptionSpec, text: string, cwd: string, fail: (problem: string) => never): unknown {
  if (text === '') fail('the value is empty')
  let value: unknown
  switch (spec.kind) {
    case 'path':
      value = resolve(cwd, text)
      break
    case 'text':
      value = text
      break
    case 'choice': {
      const { name, values } = spec.choices!
      if (!values.includes(text)) fail(`'${text}' is not a ${name}: use one of ${values.join(', ')}`)
      value = text
      break
    }
    case 'port':
      if (text === 'off') {
        value = null
        break
      }
      if (!/^\d+$/.test(text) || Number(text) > 65535) fail(`'${text}' is not a port: use 0-65535 (0 picks a free port) or 'off'`)
      value = Number(text)
      break
    case 'count':
      if (!/^\d+$/.test(text)) fail(`'${text}' is not a whole number`)
      value = Number(text)
      break
    case 'boolean':
      value = parseBoolean(text, fail)
      break
  }
  if (spec.key !== null) {
    const key = spec.key.join('.')
    const probe = cliConfigSchema.safeParse(setIn({}, spec.key, value))
    const issue = probe.error?.issues.find((i) => i.path.join('.') === key)
    if (issue !== undefined) fail(`'${text}' is out of range: ${issue.message.replace(/^Too (big|small)/, 'too $1')}`)
  }
  return value
}

function parseBoolean (text: string, fail: (problem: string) => never): boolean {
  const lower = text.toLowerCase()
  if (lower === 'true' || lower === '1') return true
  if (lower === 'false' || lower === '0') return false
  return fail(`'${text}' is not a boolean: use true or false`)
}

/** `--http-port` or `-c` where a value was expected; `-1` stays a (bad) value. */
function looksLikeOption (text: string): boolean {
  return /^--?[A-Za-z-]/.test(text)
}

/** The file's settings as written, checked by the schema; relative paths in it resolved against its directory. */
function readConfigFile (path: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err })
  }
  const type = extname(path).toLowerCase()
  let data: unknown
  try {
    if (type === '.json') data = JSON.parse(text)
    else if (type === '.yaml' || type === '.yml') data = parseYaml(text)
    else throw new ConfigError(`config file ${path}: unknown type '${type}': name it .json, .yaml or .yml`)
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError(`config file ${path}: ${(err as Error).message.split('\n')[0]!.replace(/:$/, '')}`, { cause: err })
  }
  data ??= {} // an empty YAML file (or one of comments only) sets nothing
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(`config file ${path}: expected a mapping of settings at the top level`)
  }
  const result = cliConfigSchema.safeParse(data)
  if (!result.success) throw new ConfigError(`config file ${path}: ${describeIssues(result.error)}`, { cause: result.error })

  // Relative to the file, so `hail -c /etc/hail/hail.yaml` finds its certificate whatever the cwd.
  const settings = structuredClone(data) as Record<string, unknown>
  for (const spec of configOptions) {
    if (spec.kind !== 'path' || spec.key === null) continue
    const value = getIn(settings, spec.key)
    if (typeof value === 'string') setIn(settings, spec.key, resolve(dirname(path), value))
  }
  return settings
}

/** A certificate without a key (or the reverse) from any mix of file, variables and flags. */
function checkTlsPair (input: Record<string, unknown>, sources: Map<string, string>, file: string | undefined): void {
  const tls = input.tls
  if (tls === null || typeof tls !== 'object') return
  const has = (part: string): boolean => (tls as Record<string, unknown>)[part] !== undefined
  if (has('cert') === has('key')) return
  const [present, missing] = has('cert') ? ['cert', 'key'] : ['key', 'cert']
  const where = sources.get(`tls.${present}`) ?? `tls.${present} in ${file ?? 'the config file'}`
  throw new ConfigError(`${where} is set but not --tls-${missing} (HAIL_TLS_${missing.toUpperCase()}): TLS needs both a certificate and a key`)
}

function getIn (target: Record<string, unknown>, key: readonly string[]): unknown {
  let node: unknown = target
  for (const part of key) node = (node as Record<string, unknown> | null | undefined)?.[part]
  return node
}

/** Set a nested key, creating (or replacing a null) parent object on the way. */
function setIn (target: Record<string, unknown>, key: readonly string[], value: unknown): Record<string, unknown> {
  let node = target
  for (const part of key.slice(0, -1)) {
    const next = node[part]
    if (next === null || typeof next !== 'object') node[part] = {}
    node = node[part] as Record<string, unknown>
  }
  node[key[key.length - 1]!] = value
  return target
}

function deepFreeze<T> (value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}
