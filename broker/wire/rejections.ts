/**
 * Why a connection was refused at the wire: the catalogue every check in
 * broker/wire/ picks from, so metrics labels stay a short fixed set and each
 * one names the MQTT 3.1.1 clause it enforces.
 */
export interface Rejection {
  /** `hail_protocol_errors_total{reason}`; absent when a configured limit, not the spec, refused. */
  readonly reason?: string
  /** `hail_limit_hits_total{limit}`; set when a configured limit refused. */
  readonly limit?: string
  /** The clause broken, for the log line. */
  readonly clause: string
  /** Who caught it: Hail's guard, or mqtt-packet / aedes on their own (then Hail only counts it). */
  readonly by: 'hail' | 'mqtt-packet' | 'aedes'
  /** A CONNACK return code to send before closing, when the spec asks for one [MQTT-3.2.2-5]. */
  readonly connack?: 1 | 2
}

function rule (rejection: Rejection): Rejection {
  return Object.freeze(rejection)
}

export const rejections = {
  // Enforced by Hail's guard (broker/wire/frame-scanner.ts and the check-* modules).
  packetTooLarge: rule({ limit: 'maxPacketSize', clause: 'limits.maxPacketSize', by: 'hail' }),
  remainingLength: rule({ reason: 'remaining_length', clause: 'MQTT-2.2.3', by: 'hail' }),
  serverPacket: rule({ reason: 'server_packet', clause: 'MQTT-2.2.1', by: 'hail' }),
  protocolLevel: rule({ reason: 'protocol_level', clause: 'MQTT-3.1.2-2', by: 'hail', connack: 1 }),
  willQos: rule({ reason: 'will_qos', clause: 'MQTT-3.1.2-14', by: 'hail' }),
  willTopic: rule({ reason: 'will_topic', clause: 'MQTT-3.3.2-2', by: 'hail' }),
  passwordFlag: rule({ reason: 'password_flag', clause: 'MQTT-3.1.2-22', by: 'hail' }),
  clientId: rule({ reason: 'client_id', clause: 'MQTT-3.1.3-8', by: 'hail', connack: 2 }),
  clientIdTooLong: rule({ limit: 'maxClientIdLength', clause: 'MQTT-3.1.3-5', by: 'hail', connack: 2 }),
  invalidUtf8: rule({ reason: 'invalid_utf8', clause: 'MQTT-1.5.3-1', by: 'hail' }),
  nullChar: rule({ reason: 'null_char', clause: 'MQTT-1.5.3-2', by: 'hail' }),
  packetIdZero: rule({ reason: 'packet_id_zero', clause: 'MQTT-2.3.1-1', by: 'hail' }),
  // Bytes after the last field the flags announce, or a field they say is absent [MQTT-3.1.2-9/-18/-20].
  connectLength: rule({ reason: 'connect_length', clause: 'MQTT-3.1.4-1', by: 'hail' }),
  publishDup: rule({ reason: 'publish_dup', clause: 'MQTT-3.3.1-2', by: 'hail' }),
  noTopicFilters: rule({ reason: 'no_topic_filters', clause: 'MQTT-3.8.3-3', by: 'hail' }),
  noUnsubscribeFilters: rule({ reason: 'no_topic_filters', clause: 'MQTT-3.10.3-2', by: 'hail' }),
  invalidFilter: rule({ reason: 'invalid_filter', clause: 'MQTT-4.7.1-2', by: 'hail' }),
  malformedPublish: rule({ reason: 'malformed', clause: 'MQTT-3.3.2', by: 'hail' }),
  malformedSubscribe: rule({ reason: 'malformed', clause: 'MQTT-3.8.2', by: 'hail' }),

  // Enforced by mqtt-packet 9.0.2's parser; Hail recognises them only to count and log.
  headerFlags: rule({ reason: 'header_flags', clause: 'MQTT-2.2.2-2', by: 'mqtt-packet' }),
  publishQos: rule({ reason: 'publish_qos', clause: 'MQTT-3.3.1-4', by: 'mqtt-packet' }),
  reservedType: rule({ reason: 'reserved_type', clause: 'MQTT-2.2.1', by: 'mqtt-packet' }),
  protocolName: rule({ reason: 'protocol_name', clause: 'MQTT-3.1.2-1', by: 'mqtt-packet' }),
  connectFlags: rule({ reason: 'connect_flags', clause: 'MQTT-3.1.2-3', by: 'mqtt-packet' }),
  willFlags: rule({ reason: 'will_flags', clause: 'MQTT-3.1.2-11', by: 'mqtt-packet' }),
  subscribeOptions: rule({ reason: 'subscribe_options', clause: 'MQTT-3-8.3-4', by: 'mqtt-packet' }),
  badRemainingLength: rule({ reason: 'remaining_length', clause: 'MQTT-2.2.3', by: 'mqtt-packet' }),
  malformed: rule({ reason: 'malformed', clause: 'MQTT-4.8', by: 'mqtt-packet' }),

  // Enforced by aedes 1.2.0's handlers; Hail recognises them only to count and log.
  connectFirst: rule({ reason: 'connect_first', clause: 'MQTT-3.1.0-1', by: 'aedes' }),
  secondConnect: rule({ reason: 'second_connect', clause: 'MQTT-3.1.0-2', by: 'aedes' }),
  publishWildcard: rule({ reason: 'publish_wildcard', clause: 'MQTT-3.3.2-2', by: 'aedes' }),
  emptyTopic: rule({ reason: 'empty_topic', clause: 'MQTT-4.7.3-1', by: 'aedes' }),
  emptyFilter: rule({ reason: 'empty_topic', clause: 'MQTT-4.7.3-1', by: 'aedes' }),
  // aedes' check misses some; check-subscribe.ts catches all of them first.
  aedesInvalidFilter: rule({ reason: 'invalid_filter', clause: 'MQTT-4.7.1-2', by: 'aedes' })
} as const
