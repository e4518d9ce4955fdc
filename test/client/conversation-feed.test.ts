import t from 'tap'
import type { Envelope } from '../../protocol/index.js'
import { ConversationFeed, type SyncPage } from '../../client/conversation-feed.js'

const CONV = 'g:abcdefghijkl'

function env (seq: number): Envelope {
  return { id: `${CONV}/${seq}`, conv: CONV, seq, from: 'alice', device: 'phone', cid: `c${seq}`, ts: 1000 + seq, kind: 'text', body: { text: `m${seq}` } }
}

/**
 * A server log of `count` messages with manual control over sync replies:
 * each fetch reads the log when called and answers when the test releases it, so live deliveries can be
 * interleaved with a sync at exact points.
 */
function harness (options: { last?: number, count: number, pageSize?: number, firstSeq?: number, holes?: number[] }) {
  const shown: number[] = []
  const fetches: number[] = []
  const errors: unknown[] = []
  const logs: string[] = []
  const gates: Array<() => void> = []
  let count = options.count
  let failNext: Error | undefined
  const page = (after: number): SyncPage => {
    const firstSeq = options.firstSeq ?? 1
    const from = Math.max(after + 1, firstSeq)
    const all: Envelope[] = []
    for (let s = from; s <= count; s++) if (!(options.holes ?? []).includes(s)) all.push(env(s))
    const size = options.pageSize ?? 100
    return { messages: all.slice(0, size), more: all.length > size, lastSeq: count, firstSeq }
  }
  const feed = new ConversationFeed({
    conv: CONV,
    last: options.last ?? 0,
    deliver: (m) => shown.push(m.seq),
    fetch: async (after) => {
      fetches.push(after)
      const result = page(after)     // the log as it is when the request arrives
      const err = failNext
      failNext = undefined
      await new Promise<void>((resolve) => gates.push(resolve))
      if (err !== undefined) throw err
      return result
    },
    onSyncError: (err) => errors.push(err),
    logger: (_level, message) => logs.push(message)
  })
  return {
    feed,
    shown,
    fetches,
    errors,
    logs,
    append: (n: number) => { count += n },
    failNext: (err: Error) => { failNext = err },
    /** Let the oldest waiting fetch answer, and the feed digest it. */
    release: async () => {
      while (gates.length === 0) await tick()
      gates.shift()!()
      await tick()
    },
    waiting: () => gates.length
  }
}

async function tick (): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
}

t.test('a gap starts one sync that fills it; later gaps during that sync start no other', async (t) => {
  const h = harness({ count: 5 })
  h.feed.push(env(1))
  t.equal(h.feed.push(env(4)), 'held')
  t.equal(h.feed.push(env(5)), 'held')
  await tick()
  t.same(h.fetches, [1], 'one sync, from the cursor')
  await h.release()
  t.same(h.shown, [1, 2, 3, 4, 5], 'the gap filled, the held shown after it, nothing twice')
  await tick()
  t.equal(h.waiting(), 0, 'the queued follow-up saw no gap and did not fetch')
  t.same(h.errors, [])
})

t.test('live messages arriving while a sync runs are neither lost nor shown twice', async (t) => {
  const h = harness({ last: 2, count: 6, pageSize: 2 })
  h.feed.push(env(6))                // gap 3..5: sync from 2
  await tick()
  h.feed.push(env(3))                // live, before the sync answers
  h.append(2)                        // 7 and 8 are stored meanwhile
  await h.release()                  // page 3,4 (3 a duplicate now)
  t.same(h.shown, [3, 4])
  h.feed.push(env(8))                // live 8 overtakes the sync: held
  h.feed.push(env(4))                // QoS 1 redelivery
  await h.release()                  // page 5,6
  t.same(h.shown, [3, 4, 5, 6])
  await h.release()                  // page 7,8 (8 held meanwhile)
  t.same(h.shown, [3, 4, 5, 6, 7, 8])
  h.feed.push(env(7))                // late live copy of 7
  t.same(h.shown, [3, 4, 5, 6, 7, 8], 'each seq once, in order')
  t.equal(h.feed.last, 8)
  t.notOk(h.feed.hasGap)
  t.same(h.fetches, [2, 4, 6], 'three pages from the moving cursor')
})

t.test('sync() pulls everything after the cursor, page by page', async (t) => {
  const h = harness({ count: 7, pageSize: 3 })
  const done = h.feed.sync()
  await h.release()
  await h.release()
  await h.release()
  await done
  t.same(h.shown, [1, 2, 3, 4, 5, 6, 7])
  t.same(h.fetches, [0, 3, 6])
})

t.test('calls to sync() during a sync share one follow-up pass, which runs even without a gap', async (t) => {
  const h = harness({ count: 2 })
  const first = h.feed.sync()
  await tick()
  h.append(1)                        // stored after the first pass read the log
  const second = h.feed.sync()
  const third = h.feed.sync()
  await h.release()
  await first
  t.same(h.shown, [1, 2])
  await h.release()
  await Promise.all([second, third])
  t.same(h.shown, [1, 2, 3], 'the follow-up saw what was stored after the first pass')
  t.same(h.fetches, [0, 2], 'two passes for three calls')
})

t.test('history before firstSeq (pruned, or before this user joined) is skipped', async (t) => {
  const h = harness({ count: 60, firstSeq: 51 })
  h.feed.push(env(60))               // a new member's first live message
  await h.release()
  t.same(h.shown, [51, 52, 53, 54, 55, 56, 57, 58, 59, 60])
  t.equal(h.feed.last, 60)
})

t.test('a page that starts past the cursor without firstSeq saying so is trusted too', async (t) => {
  const h = harness({ last: 3, count: 8, holes: [4, 5] })
  await Promise.all([h.feed.sync(), h.release()])
  t.same(h.shown, [6, 7, 8])
})

t.test('a hole a complete sync cannot fill below a held message is skipped, not waited on forever', async (t) => {
  const h = harness({ last: 1, count: 1 })   // the server's log ends at 1 as far as sync shows
  h.feed.push(env(4))
  await h.release()
  t.same(h.shown, [4], 'the held message is shown after the skip')
  t.ok(h.logs.some((l) => /hole/.test(l)), 'the skip is logged')
})

t.test('a failed gap sync is reported; the next gap tries again', async (t) => {
  const h = harness({ count: 4 })
  h.failNext(new Error('timeout'))
  h.feed.push(env(3))
  await h.release()
  t.equal(h.errors.length, 1, 'reported to onSyncError')
  t.same(h.shown, [])
  t.ok(h.feed.hasGap, 'still held')
  h.feed.push(env(4))
  await h.release()
  t.same(h.shown, [1, 2, 3, 4])
})

t.test('an explicit sync() rejects when the fetch fails', async (t) => {
  const h = harness({ count: 4 })
  h.failNext(new Error('boom'))
  const rejected = t.rejects(h.feed.sync(), /boom/)
  await h.release()
  await rejected
})

t.test('a server that keeps saying more with empty pages does not loop forever', async (t) => {
  const shown: number[] = []
  let calls = 0
  const feed = new ConversationFeed({
    conv: CONV,
    last: 0,
    deliver: (m) => shown.push(m.seq),
    fetch: async () => { calls++; return { messages: [], more: true, lastSeq: 9, firstSeq: 1 } },
    onSyncError: () => {}
  })
  await feed.sync()
  t.equal(calls, 1)
})

t.test('messages of another conversation in a sync page are ignored', async (t) => {
  const shown: string[] = []
  const feed = new ConversationFeed({
    conv: CONV,
    last: 0,
    deliver: (m) => shown.push(m.id),
    fetch: async () => ({ messages: [{ ...env(1), conv: 'g:zzzzzzzzzzzz', id: 'g:zzzzzzzzzzzz/1' }, env(1)], more: false, lastSeq: 1, firstSeq: 1 }),
    onSyncError: () => {}
  })
  await feed.sync()
  t.same(shown, [`${CONV}/1`])
})

/** A feed over a fixed log that answers at once; counts its fetches. */
function instant (count: number, graceMs: number, last = 0) {
  const shown: number[] = []
  let fetches = 0
  const feed = new ConversationFeed({
    conv: CONV,
    last,
    deliver: (m) => shown.push(m.seq),
    fetch: async (after) => {
      fetches++
      const messages: Envelope[] = []
      for (let s = after + 1; s <= count; s++) messages.push(env(s))
      return { messages, more: false, lastSeq: count, firstSeq: 1 }
    },
    onSyncError: () => {},
    expectGraceMs: graceMs
  })
  return { feed, shown, fetches: () => fetches }
}

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

t.test('an expected seq that arrives live in time costs no sync', async (t) => {
  const h = instant(1, 30)
  h.feed.expect(1)
  h.feed.push(env(1))
  await sleep(60)
  t.equal(h.fetches(), 0)
  t.same(h.shown, [1])
})

t.test('an expected seq the live path lost is fetched by one sync after the grace period', async (t) => {
  // The server's reply to our own send said seq 3; its live copy never came, and nothing after it.
  const h = instant(3, 30, 2)
  h.feed.expect(3)
  h.feed.expect(3)
  h.feed.expect(2)
  await sleep(10)
  t.equal(h.fetches(), 0, 'not before the grace period')
  await sleep(60)
  t.equal(h.fetches(), 1, 'one sync for several expectations')
  t.same(h.shown, [3])
})

t.test('close() cancels a pending expectation', async (t) => {
  const h = instant(1, 20)
  h.feed.expect(1)
  h.feed.close()
  await sleep(50)
  t.equal(h.fetches(), 0)
})
