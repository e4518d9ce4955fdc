/**
 * A topic filter split into levels once, so that checking a rule against a
 * message costs a walk over arrays and no parsing. Used by the ACL, where the
 * same few rules are matched against every delivered message.
 *
 * Wildcards follow MQTT 3.1.1 §4.7: `#` matches the parent level and any
 * number of child levels and must be last [MQTT-4.7.1-2]; `+` matches exactly
 * one level, possibly empty [MQTT-4.7.1-3]; both occupy a whole level.
 */

const DOLLAR = 36 // '$'

/** Longest topic or filter in bytes: a UTF-8 string's length field is 16 bits [MQTT-1.5.3]. */
const MAX_BYTES = 65535

/**
 * Why `filter` is not a valid MQTT 3.1.1 topic filter, or null when it is.
 * The answer reads well after "invalid topic filter 'x': ".
 */
export function filterProblem (filter: string): string | null {
  if (filter.length === 0) return 'it is empty [MQTT-4.7.3-1]'
  if (filter.includes('\u0000')) return 'it contains U+0000 [MQTT-1.5.3-2]'
  if (Buffer.byteLength(filter, 'utf8') > MAX_BYTES) return `it is longer than ${MAX_BYTES} bytes [MQTT-1.5.3]`
  const levels = filter.split('/')
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] as string
    if (level === '#') {
      if (i !== levels.length - 1) return "'#' must be the last level [MQTT-4.7.1-2]"
    } else if (level.includes('#')) {
      return "'#' must occupy a whole level [MQTT-4.7.1-2]"
    } else if (level !== '+' && level.includes('+')) {
      return "'+' must occupy a whole level [MQTT-4.7.1-3]"
    }
  }
  return null
}

/** Whether `topic` is a valid topic name for PUBLISH: no wildcards [MQTT-3.3.2-2]. */
export function isTopicName (topic: string): boolean {
  return topic.length > 0 &&
    !topic.includes('+') && !topic.includes('#') && !topic.includes('\u0000')
}

export class TopicFilter {
  readonly filter: string
  readonly levels: readonly string[]
  /** `#` or `+` first: never matches a topic starting with `$` [MQTT-4.7.2-1]. */
  readonly #wildFirst: boolean

  /** `filter` must be valid (see filterProblem); it is not checked again here. */
  constructor (filter: string) {
    this.filter = filter
    this.levels = filter.split('/')
    this.#wildFirst = this.levels[0] === '#' || this.levels[0] === '+'
  }

  /** Whether this filter matches a topic name already split into levels. */
  matches (topic: readonly string[]): boolean {
    if (this.#wildFirst && (topic[0] as string).charCodeAt(0) === DOLLAR) return false
    const levels = this.levels
    for (let i = 0; i < levels.length; i++) {
      const level = levels[i]
      if (level === '#') return true
      if (i >= topic.length) return false
      if (level !== '+' && level !== topic[i]) return false
    }
    return topic.length === levels.length
  }

  /**
   * Whether every topic that `filter` (valid, split into levels) matches is
   * also matched by this filter: a subscription to `filter` can then bring
   * nothing this filter does not allow. `a/#` covers `a/b/+` and `a`;
   * `a/+` does not cover `a/#`, which also matches `a` and `a/b/c`.
   */
  covers (filter: readonly string[]): boolean {
    const first = filter[0] as string
    if (this.#wildFirst && first !== '#' && first !== '+' && first.charCodeAt(0) === DOLLAR) {
      return false
    }
    const levels = this.levels
    for (let i = 0; i < levels.length; i++) {
      const level = levels[i]
      if (level === '#') return true
      if (i >= filter.length) return false
      const wanted = filter[i]
      if (wanted === '#') {
        // A trailing `#` also matches its parent (`a/#` matches `a`), which
        // `a/+/#` does not; only at the first level is there no parent, as
        // every topic has at least one level, so `+/#` covers `#`.
        return i === 0 && level === '+' && levels.length === 2 && levels[1] === '#'
      }
      if (level !== '+' && level !== wanted) return false
    }
    return filter.length === levels.length
  }
}
