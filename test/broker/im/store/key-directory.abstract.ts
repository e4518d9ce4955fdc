import type { Test } from 'tap'
import type { KeyDirectory, PublicKey } from '../../../../broker/im/store/key-directory.js'
import type { StoreFactory } from './store-fixture.js'

function key (keyId: string): PublicKey {
  return { keyId, alg: 'x25519', publicKey: Buffer.from(`public key ${keyId}`).toString('base64'), createdAt: 1700000000000 }
}

/** The conformance suite every KeyDirectory implementation runs. */
export function keyDirectorySuite (t: Test, factory: StoreFactory<KeyDirectory>): void {
  t.test('put(), get(), list() and delete() keys per device, kept across a restart', async (t) => {
    const fixture = await factory(t)
    let keys = fixture.store
    t.same(await keys.list('alice'), [])
    await keys.put('alice', 'phone', key('k1'))
    await keys.put('alice', 'laptop', key('k2'))
    await keys.put('bob', 'phone', key('k3'))
    t.same(await keys.get('alice', 'phone'), key('k1'))
    t.equal(await keys.get('alice', 'tablet'), undefined)
    t.same(await keys.list('alice'), [{ device: 'laptop', ...key('k2') }, { device: 'phone', ...key('k1') }], 'ordered by device')
    await keys.put('alice', 'phone', key('k4'))
    t.same(await keys.get('alice', 'phone'), key('k4'), 'put() replaces the key of a device')

    keys = await fixture.restart()
    t.same(await keys.list('alice'), [{ device: 'laptop', ...key('k2') }, { device: 'phone', ...key('k4') }])
    t.equal(await keys.delete('alice', 'laptop'), true)
    t.equal(await keys.delete('alice', 'laptop'), false, 'deleting again resolves false')
    t.same((await keys.list('alice')).map(k => k.device), ['phone'])
    t.same((await keys.list('bob')).map(k => k.keyId), ['k3'], 'other users are untouched')
  })

  t.test('device ids may hold any printable character, and users do not share devices', async (t) => {
    const { store: keys } = await factory(t)
    await keys.put('al', 'ice!phone', key('k1'))
    await keys.put('alice', 'phone/2 ü', key('k2'))
    t.same((await keys.list('al')).map(k => k.device), ['ice!phone'])
    t.same((await keys.list('alice')).map(k => k.device), ['phone/2 ü'])
    t.equal(await keys.deleteAll('alice'), 1)
    t.same(await keys.list('alice'), [])
    t.same((await keys.list('al')).length, 1)
  })

  t.test('a key that is not well formed is refused with HAIL_ERR_STORE_INPUT', async (t) => {
    const { store: keys } = await factory(t)
    const code = 'HAIL_ERR_STORE_INPUT'
    await t.rejects(keys.put('alice', 'phone', { ...key('k1'), publicKey: 'not base64!' }), { code })
    await t.rejects(keys.put('alice', 'phone', { ...key('k1'), publicKey: '' }), { code })
    await t.rejects(keys.put('alice', 'phone', { ...key('k1'), keyId: '' }), { code })
    await t.rejects(keys.put('alice', 'phone', { ...key('k1'), createdAt: Number.NaN }), { code })
    await t.rejects(keys.put('alice', '', key('k1')), { code })
    await t.rejects(keys.put('Alice', 'phone', key('k1')), { code })
    t.same(await keys.list('alice'), [])
  })
}
