import { once } from 'node:events'
import net from 'node:net'
import mqttPacket from 'mqtt-packet'

/**
 * A bare MQTT server that opens the window in which mqtt.js 5 fails a QoS 1
 * publish without sending or keeping it: the first connection takes the
 * publishes 'a' and 'b' and closes without a PUBACK; the second (session
 * present) calls `duringResend` at the first resent publish, then closes,
 * again without a PUBACK. With `ackFrom3`, the third and later connections
 * acknowledge every publish; otherwise none ever does.
 */
export interface ResendWindowServer {
  port: number
  /** `{connection}:{payload}` of every publish received, in order. */
  received: string[]
  connections: () => number
  /** Called once, at the first publish the second connection receives. */
  duringResend: (() => void) | undefined
  close: () => void
}

export async function resendWindowServer (options: { ackFrom3: boolean }): Promise<ResendWindowServer> {
  let connections = 0
  const state: ResendWindowServer = {
    port: 0,
    received: [],
    connections: () => connections,
    duringResend: undefined,
    close: () => server.close()
  }
  const server = net.createServer((socket) => {
    const n = ++connections
    const parser = mqttPacket.parser()
    socket.on('error', () => {})
    socket.on('data', (chunk) => parser.parse(chunk))
    parser.on('packet', (packet) => {
      if (packet.cmd === 'connect') socket.write(mqttPacket.generate({ cmd: 'connack', returnCode: 0, sessionPresent: n > 1 }))
      if (packet.cmd !== 'publish') return
      state.received.push(`${n}:${String(packet.payload)}`)
      if (n === 1 && String(packet.payload) === 'b') setTimeout(() => socket.destroy(), 20)
      if (n === 2) {
        const during = state.duringResend
        state.duringResend = undefined
        during?.()
        setTimeout(() => socket.destroy(), 50)
      }
      if (n >= 3 && options.ackFrom3) socket.write(mqttPacket.generate({ cmd: 'puback', messageId: packet.messageId as number }))
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  state.port = (server.address() as net.AddressInfo).port
  return state
}
