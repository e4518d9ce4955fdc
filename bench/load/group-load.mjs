// Group: G groups of M members, every member one device with a persistent
// session reading its inbox; members take turns writing to their group at an
// aggregate rate, and every other member gets a copy. `hail` mode speaks
// Hail's IM protocol (group.create, im/send/{conv}, deliveries on
// im/inbox/{user}/{conv}); `mqtt` mode is the same fan-out on a plain topic
// per group with M subscribers (a member skips its own copy).
import { RawClient } from './raw-client.mjs'
import { LatencyRecorder, SeenSet, now, pool, sleep } from './recorder.mjs'

/**
 * @typedef {object} GroupArgs
 * @property {number} port
 * @property {number} groups
 * @property {number} members per group
 * @property {'mqtt' | 'hail'} mode
 * @property {{ user: string, password: string }[]} [creds] hail mode: one per client (groups × members)
 * @property {string} run
 * @property {number} [size] payload bytes (mqtt: the payload; hail's JSON is about the same)
 */

export function createGroup () {
  /** @type {GroupArgs} */
  let args
  /** @type {RawClient[]} */
  let clients = []
  /** @type {string[]} the conversation (hail) or topic (mqtt) of each group */
  let targets = []
  // one copy per (recipient, message): the recipient is the "source" of SeenSet
  const seen = new SeenSet()
  let latency = new LatencyRecorder()
  let measuring = false
  let closing = false
  let dropped = 0
  let errors = 0
  /** @type {string | undefined} */
  let firstError
  let acked = 0
  /** @type {Map<string, (result: any) => void>} hail requests waiting for their reply */
  const replies = new Map()

  /** @param {number} i */
  const user = (i) => args.creds?.[i]?.user ?? `g${i}`
  /** @param {number} i */
  const groupOf = (i) => Math.floor(i / args.members)
  /** @param {number} from @param {number} seq @param {boolean} warm */
  const payload = (from, seq, warm) => {
    const stamp = `${warm ? 'w' : 'm'}:${now()}:${from}:${seq}`
    if (args.mode === 'mqtt') return Buffer.from(stamp.padEnd(args.size ?? 128, '.'))
    return JSON.stringify({ cid: `g${warm ? 'w' : ''}${seq}`, kind: 'text', body: { text: stamp } })
  }
  /** @param {number} to @param {string} text */
  const onStamp = (to, text) => {
    const [tag, at, from, seq] = text.split(':')
    if (tag !== 'm' || Number(from) === to) return
    if (!seen.mark(to, Number(seq))) return
    if (measuring) latency.add(Number(now() - BigInt(at)) / 1000)
  }

  const api = {
    /** Connect and subscribe every member; in hail mode the first member of each group creates it. @param {GroupArgs} a */
    async connect (a) {
      args = a
      const count = a.groups * a.members
      clients = Array.from({ length: count }, (_, i) => new RawClient({
        port: a.port,
        clientId: a.mode === 'hail' ? `${user(i)}/bench` : `group-${a.run}-${i}`,
        clean: false,
        connectTimeoutMs: 120_000,
        ...(a.mode === 'hail' ? { username: user(i), password: a.creds?.[i]?.password } : {})
      }))
      targets = Array.from({ length: a.groups }, (_, g) => `bench/group/${a.run}/${g}`)
      const t0 = now()
      await pool(clients, 50, async (client, i) => {
        await client.connect()
        client.once('close', () => { if (!closing) dropped++ })
        client.on('message', (topic, body) => {
          if (a.mode === 'mqtt') return onStamp(i, body.toString('latin1', 0, 64).replace(/\.+$/, ''))
          let msg
          try { msg = JSON.parse(body.toString()) } catch { return }
          if (msg.type === 'message' && typeof msg.msg?.body?.text === 'string') onStamp(i, msg.msg.body.text)
          else if (msg.type === 'result' && typeof msg.req === 'string') replies.get(msg.req)?.(msg)
          else if (msg.type === 'error') { errors++; firstError ??= JSON.stringify(msg.error) }
        })
        const filters = a.mode === 'mqtt' ? [targets[groupOf(i)]] : [`im/inbox/${user(i)}/#`, `im/reply/${user(i)}/bench`]
        const granted = await client.subscribe(filters, 1)
        if (granted.some((g) => g !== 1)) throw new Error(`group subscription of ${filters.join(', ')} granted ${granted.join(',')}`)
      })
      if (a.mode === 'hail') {
        targets = await Promise.all(targets.map(async (_, g) => {
          const owner = g * a.members
          const members = Array.from({ length: a.members - 1 }, (_, k) => user(owner + 1 + k))
          const req = `create-${g}`
          const answer = await new Promise((resolve) => {
            replies.set(req, resolve)
            clients[owner].publish('im/cmd/group.create', JSON.stringify({ req, name: `bench ${g}`, members }), 1)
          })
          replies.delete(req)
          if (answer.ok !== true) throw new Error(`group.create: ${JSON.stringify(answer.error)}`)
          return `im/send/${answer.result.conv}`
        }))
      }
      return { connected: clients.length, connectMs: Number(now() - t0) / 1e6 }
    },

    /** One message from each group's first member, acknowledged (Hail: the conversation's first write). */
    async warmup () {
      await Promise.all(targets.map((topic, g) => new Promise((resolve) => clients[g * args.members].publish(topic, payload(g * args.members, g, true), 1, () => resolve(undefined)))))
      return {}
    },

    /** Send `rate` msg/s in all for `seconds` (members of each group in turn), then wait up to graceMs for every copy. @param {{ rate: number, seconds: number, graceMs: number }} a */
    async run (a) {
      measuring = true
      latency = new LatencyRecorder()
      const total = Math.round(a.rate * a.seconds)
      let sent = 0
      const t0 = Date.now()
      await new Promise((resolve) => {
        const tick = () => {
          const due = Math.min(total, Math.floor((Date.now() - t0) / 1000 * a.rate))
          while (sent < due) {
            const g = sent % args.groups
            const from = g * args.members + Math.floor(sent / args.groups) % args.members
            clients[from].publish(targets[g], payload(from, sent, false), 1, () => { acked++ })
            sent++
          }
          if (sent >= total) resolve(undefined)
          else setTimeout(tick, 5)
        }
        tick()
      })
      const sendMs = Date.now() - t0
      const expected = sent * (args.members - 1)
      const deadline = Date.now() + a.graceMs
      let last = seen.unique
      let lastAcked = acked
      let lastProgress = Date.now()
      while ((acked < sent || seen.unique < expected) && Date.now() < deadline && Date.now() - lastProgress < 10_000) {
        await sleep(50)
        if (seen.unique !== last || acked !== lastAcked) { last = seen.unique; lastAcked = acked; lastProgress = Date.now() }
      }
      const doneMs = Date.now() - t0
      const stillArriving = seen.unique < expected && Date.now() - lastProgress < 10_000
      measuring = false
      await sleep(300) // late duplicates
      return {
        sent,
        acked,
        expected,
        copies: seen.unique,
        duplicates: seen.duplicates,
        loss: Math.max(0, expected - seen.unique),
        errors,
        firstError,
        sendMs,
        doneMs,
        stillArriving,
        dropped,
        latency: latency.summary()
      }
    },

    async close () {
      closing = true
      await pool(clients, 200, (c) => { c.destroy(); return Promise.resolve() })
      clients = []
      return {}
    }
  }
  return api
}
