/** What a Transport reports. */
export interface TransportEvents {
  /** Each CONNACK that accepted the client; `sessionPresent` when a persistent session was resumed. */
  connect: [{ sessionPresent: boolean }]
  /** A PUBLISH from the broker; the payload as bytes. */
  message: [topic: string, payload: Uint8Array]
  /** The connection went away; the transport reconnects by itself. */
  disconnect: []
  /** A failure after the first connection (refused reconnect, socket error). */
  error: [Error]
}

/**
 * The MQTT the client needs, and no more: MqttTransport over mqtt.js in
 * production; tests of the client's logic may pass a fake. QoS 1 publishes
 * that were not acknowledged when the connection dropped are sent again
 * after reconnecting (MQTT 3.1.1 §4.4).
 */
export interface Transport {
  on: <K extends keyof TransportEvents>(event: K, listener: (...args: TransportEvents[K]) => void) => void
  /** Resolves at the first accepted CONNACK (after its `connect` event); rejects when the first attempt fails. */
  open: () => Promise<{ sessionPresent: boolean }>
  /** Resolves when the broker has it (PUBACK for QoS 1; written for QoS 0). Bytes are file chunks. */
  publish: (topic: string, payload: string | Uint8Array, qos: 0 | 1) => Promise<void>
  /** Subscribes at QoS 1; one boolean per filter: granted or refused (SUBACK 0x80). */
  subscribe: (filters: string[]) => Promise<boolean[]>
  unsubscribe: (filters: string[]) => Promise<void>
  /** Disconnects and stops reconnecting. */
  close: () => Promise<void>
}
