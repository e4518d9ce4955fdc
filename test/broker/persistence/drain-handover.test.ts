import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { DrainHandovers } from '../../../broker/persistence/drain-handover.js'

// GRACE_MS in drain-handover.ts: how long a caught-up handover still turns away live copies of what the drain sent.
const GRACE_MS = 10_000

t.test('a caught-up handover turns away live copies of what its drain sent for the grace, then is forgotten; one replaced meanwhile stays', async (t) => {
  const handovers = new DrainHandovers()
  const first = {}
  const second = {}
  // session a: drained k1, caught up now
  handovers.connecting('a', undefined)
  const a = handovers.streaming('a', first)
  t.ok(a)
  t.ok(a!.take('b:1'))
  a!.caughtUp()
  // session b: caught up now, then reconnects half-way through the grace and is still draining
  handovers.connecting('b', undefined)
  handovers.streaming('b', first)!.caughtUp()
  t.notOk(handovers.takeLive('a', first, 'b:1'), 'the drain sent it: the live copy is dropped')
  t.ok(handovers.takeLive('a', first, 'b:2'), 'one the drain did not send goes live')
  await sleep(GRACE_MS / 2)
  handovers.connecting('b', first)
  const b = handovers.streaming('b', second)
  t.ok(b!.take('b:3'))
  await sleep(GRACE_MS / 2 + 500)
  t.ok(handovers.takeLive('a', first, 'b:1'), 'after the grace a is forgotten: nothing held back any more')
  t.notOk(handovers.takeLive('b', second, 'b:3'), 'b\'s new handover outlived the old one\'s expiry')
  t.notOk(handovers.stale('b', second), 'and still knows its connection')
  t.ok(handovers.stale('b', first), 'and the one it replaced')
})

t.test('live copies during a drain: held in `live` and not sent again by it; stored ones wait for the drain', async (t) => {
  const handovers = new DrainHandovers()
  const client = {}
  handovers.connecting('a', undefined)
  handovers.stored('a', 'b:5')
  const hooks = handovers.streaming('a', client)!
  t.notOk(handovers.takeLive('a', client, 'b:5'), 'stored after the CONNECT began: the drain sends it')
  t.ok(handovers.takeLive('a', client, 'b:6'), 'a live one goes live')
  t.notOk(hooks.take('b:6'), 'and the drain skips it')
  t.ok(hooks.take('b:7'))
  hooks.caughtUp()
  t.notOk(handovers.takeLive('a', client, 'b:7'), 'the drain sent it')
})
