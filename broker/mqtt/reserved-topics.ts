/**
 * Topics Hail keeps for itself: `im/` carries instant messaging and call
 * signaling, `$SYS/` the broker's own status, `$hail/` the broker's
 * internals (refused publishes are sent to `$hail/discarded`, where no
 * subscriber may be). The ACL file never grants
 * them; the IM layer authorizes them with its own rules (membership, owner
 * of an inbox, party to a call).
 *
 * A topic is reserved when its first level is exactly `im` or `$SYS`, so
 * `im` itself is reserved too: `im/#` matches it [MQTT-4.7.1-2], and leaving
 * it open would let a plain rule publish where only the IM layer may.
 * Topic names are case-sensitive [MQTT-4.7.3-4]: `IM/x` is an ordinary topic.
 */

const SLASH = 47 // '/'

function firstLevelIs (topic: string, root: string): boolean {
  return topic.startsWith(root) &&
    (topic.length === root.length || topic.charCodeAt(root.length) === SLASH)
}

/** Whether a concrete topic (a PUBLISH topic name) belongs to Hail. */
export function isReservedTopic (topic: string): boolean {
  // `$share/…` names shared subscriptions: a PUBLISH there would reach their members directly.
  return firstLevelIs(topic, 'im') || firstLevelIs(topic, '$SYS') || firstLevelIs(topic, '$hail') || firstLevelIs(topic, '$share')
}

/**
 * Whether a topic or filter lies under `$SYS/`: the broker's status, which
 * admins and the ACL file's read rules may read and nobody may publish
 * (mqtt/sys-topics.ts).
 */
export function isSysTopic (topic: string): boolean {
  return firstLevelIs(topic, '$SYS')
}

/**
 * Whether `topic` is one of the status topics Hail publishes, all under
 * `$SYS/broker/` (mqtt/sys-topics.ts). Other `$SYS/` topics are aedes' own
 * announcements between nodes (`$SYS/{broker id}/heartbeat`,
 * `.../new/clients`), which no client receives.
 */
export function isSysStatusTopic (topic: string): boolean {
  return topic.startsWith('$SYS/broker/')
}

/**
 * Whether a subscription filter names a reserved root literally (`im/#`,
 * `$SYS/#`, `im/+/x`). Filters that start with a wildcard (`#`, `+/x`) are
 * not reserved: they are ordinary subscriptions, and reserved topics must
 * instead be refused at delivery (`canReceive`). For `$SYS` the broker does
 * that anyway, since a filter starting with a wildcard never matches a topic
 * starting with `$` [MQTT-4.7.2-1]; for `im/` it is the delivery check alone.
 */
export function isReservedFilter (filter: string): boolean {
  // `$share/{group}/{filter}` (shared subscriptions, mqtt/shared-subscriptions.ts) names
  // its real filter after two levels: `$share/g/im/#` is as reserved as `im/#`.
  if (firstLevelIs(filter, '$share')) {
    const groupEnd = filter.indexOf('/', '$share/'.length)
    return groupEnd !== -1 && isReservedTopic(filter.slice(groupEnd + 1))
  }
  return isReservedTopic(filter)
}
