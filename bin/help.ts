import { cliConfigSchema, configFileOption, optionGroups, type OptionSpec } from './options.js'

/**
 * The text of `hail --help`, built from the option table so that every flag,
 * variable and default shown is the one the code uses. README copies this
 * output verbatim (`hail --help`).
 */
export function helpText (): string {
  const defaults = cliConfigSchema.parse({}) as Record<string, unknown>
  const lines = [
    'Usage: hail [start] [options]   run the broker (start is the default command)',
    '       hail help                print this help (also --help, -h)',
    '       hail --version           print the version',
    '',
    ...wrap('Hail is an embeddable MQTT broker with instant messaging and calls. Each setting comes from, lowest to highest: its default, the config file, its HAIL_* environment variable, its flag. Relative paths resolve against the current directory, or in a config file against the file\'s directory. A variable set to the empty string counts as unset; a switch variable takes true or false (or 1, 0). PORT is 0-65535: 0 picks a free port, and off turns the listener off (null in a config file).', ''),
    '',
    ...describe(configFileOption, defaults)
  ]
  for (const group of optionGroups) {
    lines.push('', `${group.title}:`)
    for (const spec of group.options) lines.push(...describe(spec, defaults))
  }
  lines.push(
    '',
    'Signals:',
    ...wrap('The first SIGTERM or SIGINT (Ctrl-C) stops accepting connections, lets in-flight writes reach the store, closes it and exits 0. A second signal during that exits at once: 143 after SIGTERM, 130 after SIGINT.', '  '),
    '',
    'Exit status:',
    '  0        stopped cleanly',
    '  1        configuration or startup failed (one line on stderr says why)',
    '  2        bad command line: unknown command or option, bad flag value',
    '  130/143  forced to stop by a second SIGINT/SIGTERM',
    ''
  )
  return lines.join('\n')
}

/** Three lines or more per option: the flag, what it does, where else it can be set and its default. */
function describe (spec: OptionSpec, defaults: Record<string, unknown>): string[] {
  const name = spec.negatable === true ? `--[no-]${spec.flag}` : `--${spec.flag}`
  const flag = spec.short === undefined ? name : `-${spec.short}, ${name}`
  const where = [`env ${spec.env}`]
  if (spec.key !== null) {
    where.push(`file ${spec.key.join('.')}`, `default ${showDefault(spec, defaults)}`)
  }
  return [
    `  ${flag}${spec.arg === undefined ? '' : ` ${spec.arg}`}`,
    ...wrap(spec.help, '      '),
    ...wrap(where.join(', '), '      ')
  ]
}

function showDefault (spec: OptionSpec, defaults: Record<string, unknown>): string {
  let value: unknown = defaults
  for (const part of spec.key ?? []) value = (value as Record<string, unknown> | null)?.[part]
  if (value === null || value === undefined) return spec.kind === 'port' ? 'off' : 'none'
  return String(value)
}

function wrap (text: string, indent: string, width = 79): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(/\s+/)) {
    if (line !== '' && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line)
      line = word
    } else {
      line = line === '' ? word : `${line} ${word}`
    }
  }
  if (line !== '') lines.push(indent + line)
  return lines
}
