import type { Test } from 'tap'
import { MAX_TOKENS_PER_DEVICE } from '../../../../broker/im/store/level-push-token-store.js'
import type { PushTokenStore } from '../../../../broker/im/store/push-token-store.js'
import type { StoreFactory } from './store-fixture.js'

/** What every PushTokenStore (level now, Redis later) must do. */
export function pushTokenStoreSuite (t: Test, factory: StoreFactory<PushTokenStore>): void {
  const strip = (tokens: Array<{ device: string, token: string, platform: string }>): string[] =>
    tokens.map((x) => `${x.device}:${x.platform}:${x.token}`)

  t.test('register() keeps each token once per device, list() gives them by device, and they survive a restart', async (t) => {
    const fixture = await factory(t)
    const store = fixture.store
    await store.register('bob', 'phone', 'fcm:1', 'fcm')
    await store.register('bob', 'phone', 'fcm:1', 'fcm')
    await store.register('bob', 'browser', '{"endpoint":"https://x/y!z"}', 'web')
    await store.register('alice', 'phone', 'apns-1', 'apns')
    t.same(strip(await store.list('bob')), ['browser:web:{"endpoint":"https://x/y!z"}', 'phone:fcm:fcm:1'])
    const restarted = await fixture.restart()
    t.same(strip(await restarted.list('bob')), ['browser:web:{"endpoint":"https://x/y!z"}', 'phone:fcm:fcm:1'])
    t.same(strip(await restarted.list('alice')), ['phone:apns:apns-1'])
    t.same(await restarted.list('carol'), [])
  })

  t.test('a token registered again by someone else moves to them', async (t) => {
    const { store } = await factory(t)
    await store.register('bob', 'phone', 'shared', 'fcm')
    await store.register('alice', 'tablet', 'shared', 'fcm')
    t.same(await store.list('bob'), [])
    t.same(strip(await store.list('alice')), ['tablet:fcm:shared'])
    t.equal(await store.unregister('bob', 'shared'), false, 'bob cannot remove what is no longer his')
    t.equal(await store.unregister('alice', 'shared'), true)
    t.same(await store.list('alice'), [])
  })

  t.test(`a device keeps its ${MAX_TOKENS_PER_DEVICE} newest tokens`, async (t) => {
    const { store } = await factory(t)
    for (let i = 0; i <= MAX_TOKENS_PER_DEVICE; i++) {
      await store.register('bob', 'phone', `t${i}`, 'fcm')
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    const tokens = (await store.list('bob')).map((x) => x.token).sort()
    t.equal(tokens.length, MAX_TOKENS_PER_DEVICE)
    t.notOk(tokens.includes('t0'), 'the oldest went')
    await store.register('bob', 'phone', 't0', 'fcm')
    t.ok((await store.list('bob')).some((x) => x.token === 't0'), 'an evicted token can come back')
  })

  t.test('unregisterDevice() removes only that device\'s tokens', async (t) => {
    const { store } = await factory(t)
    await store.register('bob', 'phone', 'a', 'fcm')
    await store.register('bob', 'phone', 'b', 'apns')
    await store.register('bob', 'browser', 'c', 'web')
    t.equal(await store.unregisterDevice('bob', 'phone'), 2)
    t.equal(await store.unregisterDevice('bob', 'phone'), 0)
    t.same(strip(await store.list('bob')), ['browser:web:c'])
    await store.register('alice', 'phone', 'a', 'fcm')
    t.same(strip(await store.list('alice')), ['phone:fcm:a'], 'a removed token is free to register again')
  })

  t.test('bad input is refused with StoreInputError', async (t) => {
    const { store } = await factory(t)
    await t.rejects(store.register('Bob', 'phone', 'x', 'fcm'), { code: 'HAIL_ERR_STORE_INPUT' })
    await t.rejects(store.register('bob', 'a!b', 'x', 'fcm'), { code: 'HAIL_ERR_STORE_INPUT' })
    await t.rejects(store.register('bob', 'phone', '', 'fcm'), { code: 'HAIL_ERR_STORE_INPUT' })
    await t.rejects(store.register('bob', 'phone', 'x', 'pager' as never), { code: 'HAIL_ERR_STORE_INPUT' })
  })
}
