import t from 'tap'
import { HailClientError } from '../../client/errors.js'
import { PendingReplies } from '../../client/pending-replies.js'

t.test('a reply settles the waiter of its key and no other', async (t) => {
  const pending = new PendingReplies<number>('reply to request')
  const a = pending.wait('a', 1000)
  const b = pending.wait('b', 1000)
  t.ok(pending.resolve('b', 2))
  t.ok(pending.resolve('a', 1))
  t.equal(await a, 1)
  t.equal(await b, 2)
  t.equal(pending.size, 0)
})

t.test('a reply nobody waits for (a redelivery, a late answer) is ignored', async (t) => {
  const pending = new PendingReplies<number>('reply')
  const a = pending.wait('a', 1000)
  t.ok(pending.resolve('a', 1))
  t.notOk(pending.resolve('a', 1), 'the QoS 1 duplicate finds nobody')
  t.notOk(pending.reject('zzz', new HailClientError('HAIL_ERR_NOT_MEMBER', 'x')))
  t.equal(await a, 1)
})

t.test('waiters sharing a key all settle with the first reply', async (t) => {
  const pending = new PendingReplies<string>('reply')
  const both = Promise.all([pending.wait('cid-1', 1000), pending.wait('cid-1', 1000)])
  pending.resolve('cid-1', 'seq 4')
  t.same(await both, ['seq 4', 'seq 4'])
})

t.test('no reply in time rejects with HAIL_ERR_TIMEOUT naming the key, and frees the key', async (t) => {
  const pending = new PendingReplies<number>('reply to message')
  const started = Date.now()
  const err = await pending.wait('m-1', 30).catch((e: unknown) => e) as HailClientError
  t.ok(err instanceof HailClientError)
  t.equal(err.code, 'HAIL_ERR_TIMEOUT')
  t.equal(err.ref, 'm-1')
  t.match(err.message, /no reply to message m-1 within 30 ms/)
  t.ok(Date.now() - started >= 25, 'not before the timeout')
  t.notOk(pending.has('m-1'))
})

t.test('one waiter timing out leaves the others of its key waiting', async (t) => {
  const pending = new PendingReplies<number>('reply')
  const short = pending.wait('k', 10)
  const long = pending.wait('k', 1000)
  await t.rejects(short, { code: 'HAIL_ERR_TIMEOUT' })
  pending.resolve('k', 7)
  t.equal(await long, 7)
})

t.test('rejectAll fails every waiter, with its own key as ref', async (t) => {
  const pending = new PendingReplies<number>('reply')
  const waits = ['a', 'b'].map(async (k) => await pending.wait(k, 1000).catch((e: HailClientError) => `${e.code}:${e.ref ?? ''}`))
  pending.rejectAll((key) => new HailClientError('HAIL_ERR_CLOSED', 'closed', { ref: key }))
  t.same(await Promise.all(waits), ['HAIL_ERR_CLOSED:a', 'HAIL_ERR_CLOSED:b'])
})
