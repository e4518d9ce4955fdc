import t from 'tap'
import { z } from 'zod'
import { ImError, type Caller, type ImExtension, type ImHost } from '../../../broker/index.js'
import { imServer, RawDevice } from '../../helpers/im-server.js'
import { waitFor } from '../../helpers/wait-for.js'

/** A toy extension: im/cmd/echo.* and im/toy/{user}/x, where only that user may go. */
function toy (log: string[]): (host: ImHost) => ImExtension {
  return (host) => ({
    subtree: 'toy',
    commands: {
      'echo.say': {
        args: z.strictObject({ text: z.string().max(10) }),
        handle: async (caller: Caller, args: { text: string }) => {
          if (args.text === 'no') throw new ImError('HAIL_ERR_FORBIDDEN', 'said no')
          await host.publish(host.inboxTopic(caller.user), { type: 'toy', text: args.text })
          return { said: args.text, by: `${caller.user}/${caller.device}`, members: [...host.members('d:alice:bob').keys()] }
        }
      }
    },
    canPublish: (caller, topic) => topic === `im/toy/${caller.user}/x`,
    canSubscribe: (caller, filter) => filter === `im/toy/${caller.user}/x`,
    canReceive: (caller, topic) => topic === `im/toy/${caller.user}/x`,
    publish: async (caller, topic, payload) => {
      log.push(`publish ${caller.user}/${caller.device} ${topic} ${payload.toString()}`)
      await host.publish(topic, { type: 'toy', echo: payload.toString() })
    },
    disconnected: (caller) => { log.push(`gone ${caller.user}/${caller.device}`) },
    close: async () => { log.push('close') }
  })
}

t.test('an extension answers its own im/cmd methods with the engine\'s envelope, validation and errors', async (t) => {
  const log: string[] = []
  const { port } = await imServer(t, ['alice', 'bob'], { imExtensions: [toy(log)] })
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  await alice.request('direct.open', { user: 'bob' })
  t.same(await alice.request('echo.say', { text: 'hi' }), { said: 'hi', by: 'alice/phone', members: ['alice', 'bob'] })
  await waitFor(() => alice.of('toy').length === 1, 'the event the extension published')
  await t.rejects(alice.request('echo.say', { text: 'far too long text' }), { code: 'HAIL_ERR_BAD_REQUEST' })
  await t.rejects(alice.request('echo.say', { text: 'no' }), { code: 'HAIL_ERR_FORBIDDEN', message: 'said no' })
  await t.rejects(alice.request('echo.shout', {}), { code: 'HAIL_ERR_UNKNOWN_METHOD' })
})

t.test('an extension rules its subtree: who may subscribe, publish and receive; it hears disconnects and close', async (t) => {
  const log: string[] = []
  const { server, port } = await imServer(t, ['alice', 'bob'], { imExtensions: [toy(log)] })
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const bob = await RawDevice.connect(t, port, 'bob', 'phone')
  t.same((await alice.client.subscribeAsync('im/toy/alice/x', { qos: 1 })).map((g) => g.qos), [1])
  await t.rejects(bob.client.subscribeAsync('im/toy/alice/x', { qos: 1 }), /Unspecified error/, 'SUBACK 0x80 for another user\'s topic')
  await bob.client.publishAsync('im/toy/alice/x', 'from bob', { qos: 1 })
  await alice.client.publishAsync('im/toy/alice/x', 'from alice', { qos: 1 })
  await waitFor(() => alice.of('toy').length === 1, 'the echo')
  t.same(alice.of('toy')[0], { v: 2, type: 'toy', echo: 'from alice' })
  t.same(log.filter((l) => l.startsWith('publish')), ['publish alice/phone im/toy/alice/x from alice'], 'bob\'s publish never reached it')
  await bob.end()
  await waitFor(() => log.includes('gone bob/phone'), 'the disconnect')
  await server.close()
  t.ok(log.includes('close'))
})

t.test('an extension cannot take the engine\'s own subtrees or methods', async (t) => {
  const bad = (subtree: string, method: string) => () => ({ ...toy([])({} as ImHost), subtree, commands: { [method]: { args: z.object({}), handle: async () => null } } })
  const { server } = await imServer(t, [])
  t.throws(() => server.im.use(bad('inbox', 'x.y')), /cannot own im\/inbox/)
  t.throws(() => server.im.use(bad('toy2', 'sync')), /im\/cmd\/sync is answered already/)
})
