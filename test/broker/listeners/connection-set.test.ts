import { once } from 'node:events'
import net from 'node:net'
import t from 'tap'
import { ConnectionSet } from '../../../broker/listeners/connection-set.js'

t.test('a connection set counts the bytes of live and closed connections and forgets each one at its close', async (t) => {
  const set = new ConnectionSet()
  const server = net.createServer((socket) => {
    set.add(socket)
    socket.on('data', (chunk) => socket.write(chunk)) // echo
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.close() })
  const port = (server.address() as net.AddressInfo).port
  const open = async (): Promise<net.Socket> => {
    const socket = net.connect(port, '127.0.0.1')
    await once(socket, 'connect')
    return socket
  }
  const a = await open()
  const b = await open()
  while (set.size < 2) await new Promise((resolve) => setTimeout(resolve, 5))
  a.write('hello')
  await once(a, 'data')
  b.write('hi')
  await once(b, 'data')
  t.same(set.bytes(), { read: 7, written: 7 }, 'both live connections counted')
  a.destroy()
  while (set.size > 1) await new Promise((resolve) => setTimeout(resolve, 5))
  t.same(set.bytes(), { read: 7, written: 7 }, 'a closed connection still counts, once')
  set.destroyAll()
  await once(b, 'close')
  t.equal(set.size, 0)
  // the server side's 'close' comes a tick after destroy()
  const deadline = Date.now() + 2000
  while (set.bytes().read < 7 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
  t.same(set.bytes(), { read: 7, written: 7 }, 'and so do the ones closed by destroyAll')
})
