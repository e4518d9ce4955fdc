import t from 'tap'
import { LocalCallOwnership } from '../../bridge/call-ownership.js'

t.test('the in-process ownership takes a call once and frees it on release', async (t) => {
  const owner = new LocalCallOwnership()
  t.equal(await owner.claim('c1'), true)
  t.equal(await owner.claim('c1'), false, 'a second claim of a held call fails')
  t.equal(owner.owns('c1'), true)
  await owner.release('c1')
  t.equal(owner.owns('c1'), false)
  t.equal(await owner.claim('c1'), true)
})
