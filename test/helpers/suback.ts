import type { MqttClient } from 'mqtt'

/** SUBACK return codes in filter order (0x80 = refused); mqtt.js rejects when any is 0x80, so they are read from the packet then. */
export async function suback (client: MqttClient, filters: string[] | string, qos: 0 | 1 = 0): Promise<number[]> {
  const list = Array.isArray(filters) ? filters : [filters]
  try {
    const granted = await client.subscribeAsync(Object.fromEntries(list.map((f) => [f, { qos }])))
    return granted.map((g) => g.qos)
  } catch (err) {
    const packet = (err as { packet?: { granted?: number[] } }).packet
    if (packet?.granted === undefined) throw err
    return packet.granted
  }
}
