import { once } from 'node:events'
import net from 'node:net'
import t, { type Test } from 'tap'
import { corkPerTurn } from '../../../broker/wire/turn-cork.js'

interface Pair { server: net.Socket, received: () => string, calls: { write: number, writev: Buffer[][] } }

/** A real loopback connection; the server side corked per turn, its writes to the kernel counted. */
async function pair (t: Test): Promise<Pair> {
  const listener = net.createServer()
  listener.listen(0, '127.0.0.1')
  await once(listener, 'listening')
  const accepted = once(listener, 'connection')
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1')
  const [server] = await accepted as [net.Socket]
  t.teardown(() => { client.destroy(); server.destroy(); listener.close() })
  let text = ''
  client.on('data', (chunk: Buffer) => { text += chunk.toString() })
  const calls = { write: 0, writev: [] as Buffer[][] }
  // the stream module calls these once per flush: what reaches the kernel
  const socket = server as unknown as { _write: (...a: unknown[]) => void, _writev: (chunks: Array<{ chunk: Buffer }>, cb: () => void) => void }
  const write = socket._write.bind(server)
  const writev = socket._writev.bind(server)
  socket._write = (...a) => { calls.write++; write(...a) }
  socket._writev = (chunks, cb) => { calls.writev.push(chunks.map(c => c.chunk)); writev(chunks, cb) }
  t.ok(corkPerTurn(server), 'a plain socket is corked per turn')
  return { server, received: () => text, calls }
}

const turn = async (): Promise<void> => { await new Promise<void>((resolve) => setImmediate(resolve)) }

t.test('the writes of one turn reach the kernel as one writev, in order', async (t) => {
  const { server, received, calls } = await pair(t)
  server.write('a')
  server.write(Buffer.from('b'))
  await Promise.resolve() // a microtask later is still the same turn
  server.write('c')
  process.nextTick(() => server.write('d'))
  t.equal(calls.write + calls.writev.length, 0, 'nothing is written before the turn ends')
  await turn()
  await turn()
  t.equal(calls.write, 0)
  t.equal(calls.writev.length, 1, 'one writev for the turn')
  t.same(calls.writev[0].map(String), ['a', 'b', 'c', 'd'])
  while (received().length < 4) await turn()
  t.equal(received(), 'abcd')
})

t.test('each turn is its own write; a write in the flushing turn is not lost', async (t) => {
  const { server, received, calls } = await pair(t)
  server.write('1')
  await turn()
  server.write('2')
  server.write('3')
  setImmediate(() => server.write('4')) // written from an immediate: flushed a turn later
  await turn()
  await turn()
  await turn()
  while (received().length < 4) await turn()
  t.equal(received(), '1234')
  t.equal(calls.write + calls.writev.length, 3, 'one write per turn that wrote')
})

t.test('end() sends what the turn corked', async (t) => {
  const { server, received } = await pair(t)
  server.write('bye')
  server.end('!')
  while (!received().endsWith('!')) await turn()
  t.equal(received(), 'bye!')
})

t.test('a socket whose write was replaced is left alone', async (t) => {
  const socket = new net.Socket()
  const own = function (this: net.Socket): boolean { return true }
  socket.write = own as net.Socket['write']
  t.notOk(corkPerTurn(socket))
  t.equal(socket.write, own)
})

t.test('a socket whose flush throws is closed with the error; the other sockets of its turn are still flushed', async (t) => {
  const broken = await pair(t)
  const healthy = await pair(t)
  const failure = new Error('writev failed')
  ;(broken.server as unknown as { _writev: () => void })._writev = () => { throw failure }
  const errors: Error[] = []
  broken.server.on('error', (err) => errors.push(err))
  broken.server.write('x')
  broken.server.write('y') // two chunks: the flush goes through _writev
  healthy.server.write('a')
  healthy.server.write('b')
  while (healthy.received() !== 'ab' || !broken.server.destroyed) await turn()
  t.equal(healthy.received(), 'ab', 'the healthy socket of the same turn got its bytes')
  t.ok(broken.server.destroyed, 'the socket whose flush threw is closed')
  await turn()
  t.same(errors, [failure], 'with the error of its flush')
  // later turns cork and flush as before
  healthy.server.write('c')
  while (healthy.received() !== 'abc') await turn()
  t.equal(healthy.received(), 'abc')
})
