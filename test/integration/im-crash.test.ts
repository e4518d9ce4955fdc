import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { addUser, Daemon } from '../helpers/daemon.js'
import { PASSWORD, RawDevice } from '../helpers/im-server.js'
import { waitFor } from '../helpers/wait-for.js'

t.test('kill -9 after PUBACK loses nothing from the conversation log', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hail-im-crash-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  for (const user of ['alice', 'bob']) await addUser(dir, user, PASSWORD)
  const args = ['--data', dir, '--mqtt-port', '0', '--http-port', 'off']
  let { daemon, addresses } = await Daemon.start(args)
  let port = addresses.mqtt!.port
  t.teardown(() => daemon.kill9())

  const conv = 'd:alice:bob'
  const acked = new Set<string>()
  const sender = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: 'alice/phone', username: 'alice', password: PASSWORD, clean: false, reconnectPeriod: 100 })
  t.teardown(() => { sender.end(true) })
  await new Promise<void>((resolve) => sender.once('connect', () => resolve()))

  const N = 1500
  let inflight = 0
  const sending = (async () => {
    for (let i = 0; i < N; i++) {
      while (inflight >= 20) await new Promise((resolve) => setTimeout(resolve, 1))
      inflight++
      const cid = `m${i}`
      sender.publish(`im/send/${conv}`, JSON.stringify({ cid, kind: 'text', body: { text: String(i) } }), { qos: 1 }, (err) => {
        inflight--
        if (err === undefined || err === null) acked.add(cid)
      })
    }
  })()

  const ackedAtKill: number[] = []
  for (let k = 0; k < 3; k++) {
    await waitFor(() => acked.size >= (k + 1) * N / 5, `acks before kill ${k + 1}`, 60_000)
    ackedAtKill.push(acked.size)
    await daemon.kill9()
    ;({ daemon, addresses } = await Daemon.start([...args.slice(0, 2), '--mqtt-port', String(port), '--http-port', 'off']))
    port = addresses.mqtt!.port
  }
  await sending
  await waitFor(() => acked.size === N, 'every message acknowledged', 120_000)

  const reader = await RawDevice.connect(t, port, 'bob', 'reader')
  const stored: Array<{ seq: number, cid: string }> = []
  for (let after = 0, more = true; more;) {
    const page = await reader.request('sync', { conv, after, limit: 500 })
    stored.push(...page.messages.map((m: any) => ({ seq: m.seq, cid: m.cid })))
    more = page.more
    after = page.messages.at(-1)?.seq ?? after
  }
  for (const n of ackedAtKill) t.ok(n > 0 && n < N, `a kill came mid-flow (${n} of ${N} acknowledged)`)
  const cids = new Set(stored.map((m) => m.cid))
  t.same([...acked].filter((cid) => !cids.has(cid)), [], 'every acknowledged message is in the log')
  t.equal(cids.size, stored.length, 'and none is in it twice (resends after reconnect were recognised)')
  t.same(stored.map((m) => m.seq), stored.map((_, i) => i + 1), 'the sequence is gapless')
})
