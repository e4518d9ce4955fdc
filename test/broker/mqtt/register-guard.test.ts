import { once } from 'node:events'
import net from 'node:net'
import { Aedes, type Client } from 'aedes'
import mqtt from 'mqtt'
import t from 'tap'
import { guardRegistration } from '../../../broker/mqtt/register-guard.js'
import { imServer } from '../../helpers/im-server.js'
import { hex, pkt, str } from '../../helpers/mqtt-bytes.js'

const CONNECTIONS = 60

/** CONNECT, MQTT 3.1.1, clean session, keep alive 60 s; with a will when `will` is set. */
const connect = (id: string, will = false): Buffer => will
  ? pkt(0x10, str('MQTT'), '04', '06', '00 3c', str(id), str(`will/${id}`), str('gone'))
  : pkt(0x10, str('MQTT'), '04', '02', '00 3c', str(id))

/** Packets the wire guard refuses before aedes' parser sees them (see broker/wire/rejections.ts). */
const REFUSED = [
  hex('20 02 00 00'), // a CONNACK sent by a client
  hex('30 ff ff ff ff 01') // a Remaining Length of more than four bytes
]

t.test('tripwire: aedes 1.2.0 still registers a client through _finishRegisterClient', async (t) => {
  const aedes = await Aedes.createBroker()
  t.teardown(() => aedes.close())
  t.type((aedes as unknown as { _finishRegisterClient?: unknown })._finishRegisterClient, 'function')
  guardRegistration(aedes)
  // registerClient with no session to take over goes straight to the guarded step: a closed client stays out.
  const closed = { id: 'gone', closed: true } as unknown as Client
  aedes.registerClient(closed)
  t.equal(aedes.connectedClients, 0, 'a closed client is not counted')
  t.notOk(aedes.clients.gone, 'nor held')
  const open = { id: 'here', closed: false } as unknown as Client
  aedes.registerClient(open)
  t.equal(aedes.connectedClients, 1, 'an open client is')
  t.equal(aedes.clients.here, open)
  aedes.deleteClient('here') // a stand-in that aedes.close() could not close
})

t.test('a connection whose CONNECT and a refused packet arrive in one read leaves nothing counted, held or stored', async (t) => {
  const { server, port, httpPort } = await imServer(t, [], { allowAnonymous: true })
  for (let i = 0; i < CONNECTIONS; i++) {
    const socket = net.connect(port, '127.0.0.1')
    await once(socket, 'connect')
    socket.resume() // read what the server sends, so its close reaches us
    socket.write(Buffer.concat([connect(`c${i}`, i % 2 === 0), REFUSED[i % REFUSED.length]]))
    await once(socket, 'close')
  }
  // One real client, so the figures below are shown to move at all.
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'real', reconnectPeriod: 0 })
  t.teardown(() => client.endAsync())
  const gauge = async (): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
    return Number(/^hail_connections (\d+)$/m.exec(text)?.[1])
  }
  // A connection's chain may still be running after its socket closed: give it time to finish (or leak).
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(await gauge(), 1, 'hail_connections counts the one connected client')
  t.same(Object.keys(server.aedes.clients), ['real'], 'aedes holds only the connected client')
  let wills = 0
  for (let i = 0; i < CONNECTIONS; i += 2) {
    const will = await server.aedes.persistence.getWill({ id: `c${i}`, brokerId: server.aedes.id } as unknown as Client)
    if (will !== undefined && will !== null) wills++
  }
  t.equal(wills, 0, 'no will stored for a connection that never completed')
})
