import { DEFAULT_TTL } from './token-command.js'
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
    '       hail user add NAME [--password-stdin] [--admin]  add a user (--admin: an operator)',
    '       hail user passwd NAME [--password-stdin]  set a user\'s password',
    '       hail user admin NAME on|off               grant or take the admin flag (the dashboard)',
    '       hail user del NAME                        delete a user',
    '       hail user list                            list users, when they were added, admins',
    '       hail user unlock NAME                     lift NAME\'s login lockout',
    '       hail token NAME [--ttl TTL]               print a token to use as NAME\'s password',
    '       hail backup DIR          copy the data directory into DIR (while it runs, too)',
    '       hail restore DIR         put a backup into an empty data directory',
    '       hail repair              salvage a damaged data directory, report what was lost',
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
    'Users and tokens:',
    ...wrap('The user and token commands take --data DIR and -c, --config FILE (and HAIL_DATA, HAIL_CONFIG) to find the data directory, as start does. While a daemon runs on it they go through its admin socket, DIR/admin.sock; otherwise they open the directory themselves. With --redis URL (or HAIL_REDIS) they work on the users every node shares in that Redis instead.', '  '),
    '  --password-stdin',
    ...wrap('Read the password from the first line of stdin instead of asking for it, twice and without echo, on the terminal.', '      '),
    '  --ttl TTL',
    ...wrap(`How long the token works: a number and a unit s, m, h or d, from 1s to 30d; default ${DEFAULT_TTL}. Only the token is printed, on stdout.`, '      '),
    ...wrap('A user name is 1-64 characters: a-z and 0-9, then also _ . -. A client logs in with user name NAME, its password or a token, and client id NAME/DEVICE (DEVICE: 1-64 of A-Z a-z 0-9 _ . -); any other client id is refused. Changing the password or deleting the user revokes its tokens; deleting it also disconnects its clients.', '  '),
    ...wrap('After 5 failed logins of an account (20 from one address) each further attempt waits 1 s, then 2 s, 4 s ... up to 15 minutes after the last failure, and is refused without its password being checked: the right password too, from any address, or guessing would go on. hail user unlock NAME lifts the account\'s wait in the running daemon (every node, with --redis).', '  '),
    '',
    'Data directory:',
    ...wrap('hail start checks the data directory\'s database before opening it and refuses a damaged one with one line naming what is damaged. hail repair (daemon stopped) keeps a copy of the damaged files, salvages what can be read and reports what was lost, per store. hail backup DIR copies a consistent snapshot into a new or empty DIR, through the running daemon or offline; hail restore DIR puts it into a data directory that holds no database, with no daemon on it. All take --data DIR and -c, --config FILE.', '  '),
    '',
    'Signals:',
    ...wrap('The first SIGTERM or SIGINT (Ctrl-C) stops accepting connections, lets in-flight writes reach the store, closes it and exits 0. A second signal during that exits at once: 143 after SIGTERM, 130 after SIGINT (the same signal again within a second counts as the first: npm and systemd pass one on to hail as well).', '  '),
    ...wrap('SIGHUP reads the configuration again and applies the log level, the ACL file and the TLS certificate and key (renewed in place or at new paths) without closing a connection. A file that cannot be read or parsed is refused with one error line and the running configuration stays; other changed settings take effect at the next start.', '  '),
    '',
    'Exit status:',
    '  0        stopped cleanly, or a user or token command succeeded',
    '  1        configuration or startup failed (a damaged data directory too), a',
    '           user, token, backup or restore command was refused, or repair left',
    '           damage (one line on stderr says why)',
    '  2        bad command line: unknown command or option, bad flag value',
    '  130/143  forced to stop by a second SIGINT/SIGTERM',
    ''
  )
  return lines.join('\n')
}

/** A space wrap() does not break at. */
const KEEP = '\u0000'

/** Three lines or more per option: the flag, what it does, where else it can be set and its default. */
function describe (spec: OptionSpec, defaults: Record<string, unknown>): string[] {
  const name = spec.negatable === true ? `--[no-]${spec.flag}` : `--${spec.flag}`
  const flag = spec.short === undefined ? name : `-${spec.short}, ${name}`
  const where = [`env ${spec.env}`]
  if (spec.key !== null) {
    // one word for wrap(): a line never ends in a bare "default"
    where.push(`file ${spec.key.join('.')}`, `default${KEEP}${showDefault(spec, defaults)}`)
  }
  return [
    `  ${flag}${spec.arg === undefined ? '' : ` ${spec.arg}`}`,
    ...wrap(spec.help, '      '),
    ...wrap(where.join(', '), '      ').map((line) => line.replaceAll(KEEP, ' '))
  ]
}

function showDefault (spec: OptionSpec, defaults: Record<string, unknown>): string {
  let value: unknown = defaults
  for (const part of spec.key ?? []) value = (value as Record<string, unknown> | null)?.[part]
  if (value === null || value === undefined || (Array.isArray(value) && value.length === 0)) return spec.kind === 'port' ? 'off' : 'none'
  return Array.isArray(value) ? value.join(',') : String(value)
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
