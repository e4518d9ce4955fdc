import { AclError } from '../errors.js'
import { isReservedFilter, isSysTopic } from '../mqtt/reserved-topics.js'
import { filterProblem } from './topic-filter.js'

/**
 * Parser for an ACL file in the format of Mosquitto's `acl_file`
 * (mosquitto.conf(5)), so that an existing file carries over:
 *
 *     # comment
 *     topic read sensors/#          anonymous clients (before any `user` line)
 *     user alice
 *     topic readwrite home/alice/#  alice only
 *     topic deny home/alice/keys
 *     pattern readwrite devices/%c/#   every client; %u = username, %c = client id
 *
 * Where Hail is stricter than Mosquitto 2.0, it is so that a mistake becomes
 * an error with a line number instead of a rule that silently means
 * something else:
 * - `topic read` with nothing after is an error; Mosquitto reads it as
 *   read-write access to a topic named "read".
 * - `%u` / `%c` in a `topic` line is an error; Mosquitto keeps them literal.
 * - keywords and access are case-sensitive, as in Mosquitto; comments may be
 *   indented (Mosquitto only skips `#` in the first column).
 * As in Mosquitto, the topic is the rest of the line, so it may contain
 * spaces and there are no trailing comments; `#` inside a level is caught as
 * a bad wildcard.
 */

export type AclAccess = 'read' | 'write' | 'readwrite' | 'deny'

export interface AclRule {
  /** `topic` applies to one section's user; `pattern` to every client. */
  readonly kind: 'topic' | 'pattern'
  /** For `topic` rules the section's user, null for anonymous clients; always null for `pattern`. */
  readonly user: string | null
  readonly access: AclAccess
  /** A valid MQTT topic filter; in patterns it may hold `%u` and `%c`. */
  readonly filter: string
  /** 1-based line in the source, for messages. */
  readonly line: number
}

export interface AclFile {
  /** Where the rules came from (a path, usually), for messages. */
  readonly source: string
  /** In file order. */
  readonly rules: readonly AclRule[]
  /** Lines that parse but cannot do what they seem to: worth a log line. */
  readonly warnings: readonly string[]
}

const ACCESS = new Set<string>(['read', 'write', 'readwrite', 'deny'])
const PLACEHOLDER = /%[uc]/

/** Parse the text of an ACL file; throws AclError naming `source`, the line and the problem. */
export function parseAclFile (text: string, source = 'acl'): AclFile {
  const rules: AclRule[] = []
  const warnings: string[] = []
  let user: string | null = null
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/)

  for (let i = 0; i < lines.length; i++) {
    const line = i + 1
    const error = (what: string): AclError => new AclError(`${source}:${line}: ${what}`)
    const content = (lines[i] as string).trim()
    if (content === '' || content.startsWith('#')) continue

    const [keyword, rest] = splitWord(content)
    if (keyword === 'user') {
      if (rest === '') throw error("missing username after 'user'")
      user = rest
      continue
    }
    if (keyword !== 'topic' && keyword !== 'pattern') {
      throw error(`unknown keyword '${keyword}' (expected user, topic or pattern)`)
    }

    if (rest === '') throw error(`missing topic filter after '${keyword}'`)
    let access: AclAccess = 'readwrite'
    let filter = rest
    const [first, afterFirst] = splitWord(rest)
    if (afterFirst !== '') {
      // Two or more words: the first is the access, as in Mosquitto.
      if (!ACCESS.has(first)) throw error(`unknown access '${first}' (expected read, write, readwrite or deny)`)
      access = first as AclAccess
      filter = afterFirst
    } else if (ACCESS.has(first)) {
      throw error(`missing topic filter after '${first}'`)
    }

    const problem = filterProblem(filter)
    if (problem !== null) throw error(`invalid topic filter '${filter}': ${problem}`)
    if (keyword === 'topic' && PLACEHOLDER.test(filter)) {
      throw error(`'%u' and '%c' are substituted only in 'pattern' lines, not in '${filter}'`)
    }
    if (keyword === 'pattern' && !PLACEHOLDER.test(filter)) {
      warnings.push(`${source}:${line}: pattern '${filter}' has no %u or %c: it applies to every client alike`)
    }
    if (isSysTopic(filter)) {
      // Reading the broker's status is the ACL file's to grant (acl.ts, canReadSys); writing it is nobody's.
      if (access === 'write') warnings.push(`${source}:${line}: '${filter}' is the broker's status ($SYS/): only the broker publishes there, this rule has no effect`)
      if (access === 'readwrite') warnings.push(`${source}:${line}: '${filter}' is the broker's status ($SYS/): only the broker publishes there, this rule grants reading only`)
    } else if (isReservedFilter(filter)) {
      warnings.push(`${source}:${line}: '${filter}' is reserved (im/, $hail/): Hail authorizes it, this rule has no effect`)
    }
    rules.push({ kind: keyword, user: keyword === 'topic' ? user : null, access, filter, line })
  }
  return { source, rules, warnings }
}

/** The first word of `text` (which starts with no blank) and the trimmed rest. */
function splitWord (text: string): [string, string] {
  const match = /[ \t]/.exec(text)
  if (match === null) return [text, '']
  return [text.slice(0, match.index), text.slice(match.index).trim()]
}
