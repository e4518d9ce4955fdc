// Chat: N clients with persistent sessions, each sending to a few fixed
// partners' inboxes at an aggregate rate. `mqtt` mode uses plain topics
// (bench/chat/{i}); `hail` mode speaks Hail's IM protocol (im/send/{conv} with
// direct conversations, deliveries on im/inbox/{user}/{conv}), so the figure
// includes Hail's durable conversation log; `xmpp` mode sends chat messages to
// the partner's bare JID on an XMPP server (ejabberd), acknowledged by stream
// management (XEP-0198).
import { RawClient } from './raw-client.mjs'
import { LatencyRecorder, SeenSet, now, pool, sleep } from './recorder.mjs'
import { XmppClient } from './xmpp-client.mjs'

/**
 * @typedef {object} ChatArgs
 * @property {number} port
 * @property {number} clients
 * @property {number} partners how many partners each client writes to
 * @property {'mqtt' | 'hail' | 'xmpp'} mode
 * @property {{ user: string, password: string }[]} [creds] hail and xmpp modes: one per client
 * @property {string} [domain] xmpp mode: the server's XMPP host
 * @property {string} run
 * @property {number} [size] payload bytes (mqtt: the payload; xmpp: the body text; hail's JSON is about the same)
 */

export function createChat () {
  /** @type {ChatArgs} */
  let args
  /** @type {(RawClient | XmppClient)[]} */
  let clients = []
  const seen = new SeenSet()
  let latency = new LatencyRecorder()
  let measuring = false
  let closing = false
  /** Connections the broker closed before the cell ended (a client never reconnects). */
  let dropped = 0
  let errors = 0
  /** @type {string | undefined} */
  let firstError
  let acked = 0
  let warmAcked = 0
  // The probe (chat-overload): a low-rate conversation of its own alongside the flood.
  const probeSeen = new SeenSet()
  let probeLatency = new LatencyRecorder()
  let probeSent = 0
  let probeAcked = 0
  /** @type {Set<number>} clients that send no flood messages (the probe's) */
  let excluded = new Set()

  /** @param {number} i */
  const user = (i) => args.creds?.[i]?.user ?? `c${i}`
  /** @param {number} i @param {number} k */
  const partner = (i, k) => (i + 1 + k) % args.clients
  /** @param {number} from @param {number} to */
  const topicTo = (from, to) => {
    if (args.mode === 'mqtt') return `bench/chat/${args.run}/${to}`
    if (args.mode === 'xmpp') return `${user(to)}@${args.domain}`
    const [a, b] = [user(from), user(to)].sort()
    return `im/send/d:${a}:${b}`
  }
  /** The probe's two clients: not partners of each other in the flood (see partner()). */
  const probePair = () => [0, Math.floor(args.clients / 2)]
  /** @param {number} from @param {number} seq @param {boolean | 'probe'} warm */
  const payload = (from, seq, warm) => {
    const stamp = `${warm === 'probe' ? 'p' : warm ? 'w' : 'm'}:${now()}:${from}:${seq}`
    if (args.mode === 'mqtt') return Buffer.from(stamp.padEnd(args.size ?? 128, '.'))
    if (args.mode === 'xmpp') return stamp.padEnd(args.size ?? 128, '.')
    return JSON.stringify({ cid: `b${warm === 'probe' ? 'p' : warm ? 'w' : ''}${seq}`, kind: 'text', body: { text: stamp } })
  }
  /** Send one message from client `from` to client `to`; `onAck` at its PUBACK or stream-management ack. @param {number} from @param {number} to @param {number} seq @param {boolean | 'probe'} warm @param {() => void} onAck */
  const send = (from, to, seq, warm, onAck) => {
    const client = clients[from]
    if (client instanceof XmppClient) client.sendMessage(topicTo(from, to), /** @type {string} */ (payload(from, seq, warm)), onAck)
    else client.publish(topicTo(from, to), payload(from, seq, warm), 1, onAck)
  }
  /** @param {string} text */
  const onStamp = (text) => {
    const [tag, at, from, seq] = text.split(':')
    if (tag === 'p') {
      if (probeSeen.mark(Number(from), Number(seq)) && measuring) probeLatency.add(Number(now() - BigInt(at)) / 1000)
      return
    }
    if (tag !== 'm') return
    if (!seen.mark(Number(from), Number(seq))) return
    if (measuring) latency.add(Number(now() - BigInt(at)) / 1000)
  }

  /** xmpp mode: log in (SASL PLAIN), bind, enable stream management, send presence; nothing to subscribe. @param {ChatArgs} a */
  const connectXmpp = async (a) => {
    const xmpp = Array.from({ length: a.clients }, (_, i) => new XmppClient({
      port: a.port,
      domain: /** @type {string} */ (a.domain),
      user: user(i),
      password: a.creds?.[i]?.password ?? '',
      connectTimeoutMs: 120_000
    }))
    clients = xmpp
    const t0 = now()
    await pool(xmpp, 50, async (client) => {
      await client.connect()
      client.once('close', () => { if (!closing) dropped++ })
      client.on('message', (/** @type {string} */ body) => onStamp(body.slice(0, 64).replace(/\.+$/, '')))
    })
    return { connected: clients.length, connectMs: Number(now() - t0) / 1e6 }
  }

  const api = {
    /** @param {ChatArgs} a */
    async connect (a) {
      args = a
      if (a.mode === 'xmpp') return await connectXmpp(a)
      const mqtt = Array.from({ length: a.clients }, (_, i) => new RawClient({
        port: a.port,
        clientId: a.mode === 'hail' ? `${user(i)}/bench` : `chat-${a.run}-${i}`,
        clean: false,
        connectTimeoutMs: 120_000,
        ...(a.mode === 'hail' ? { username: user(i), password: a.creds?.[i]?.password } : {})
      }))
      clients = mqtt
      const t0 = now()
      await pool(mqtt, 50, async (client, i) => {
        await client.connect()
        client.once('close', () => { if (!closing) dropped++ })
        client.on('message', (topic, body) => {
          if (a.mode === 'mqtt') return onStamp(body.toString('latin1', 0, 64).replace(/\.+$/, ''))
          let msg
          try { msg = JSON.parse(body.toString()) } catch { return }
          if (msg.type === 'message' && msg.msg?.from !== user(i) && typeof msg.msg?.body?.text === 'string') onStamp(msg.msg.body.text)
          else if (msg.type === 'error') { errors++; firstError ??= JSON.stringify(msg.error) }
        })
        const filters = a.mode === 'mqtt' ? [`bench/chat/${a.run}/${i}`] : [`im/inbox/${user(i)}/#`, `im/reply/${user(i)}/bench`]
        // Both filters in one SUBSCRIBE, as the SDK does (hail --redis once never answered that; fixed).
        const granted = await client.subscribe(filters, 1)
        if (granted.some((g) => g !== 1)) throw new Error(`chat subscription of ${filters.join(', ')} granted ${granted.join(',')}`)
      })
      return { connected: clients.length, connectMs: Number(now() - t0) / 1e6 }
    },

    /** One message from every client to each partner (creates Hail's direct conversations), acknowledged; `probe`: the probe pair's too. @param {{ probe?: boolean }} [w] */
    async warmup (w = {}) {
      const total = clients.length * args.partners
      await pool(clients, 50, async (client, i) => {
        for (let k = 0; k < args.partners; k++) {
          await new Promise((resolve) => send(i, partner(i, k), k, true, () => { warmAcked++; resolve(undefined) }))
        }
      })
      if (w.probe === true) {
        const [a, b] = probePair()
        await new Promise((resolve) => send(a, b, args.partners, true, () => resolve(undefined)))
      }
      return { warmed: warmAcked, expected: total }
    },

    /**
     * chat-overload: run() with a probe alongside: the probe pair writes to
     * each other at `probeRate` msg/s, in their own conversation, while the
     * flood runs; its latency is reported apart.
     * @param {{ rate: number, seconds: number, graceMs: number, probeRate: number }} a
     */
    async runWithProbe (a) {
      probeLatency = new LatencyRecorder()
      const [pa, pb] = probePair()
      excluded = new Set([pa, pb])
      let stop = false
      const probing = (async () => {
        const t0 = Date.now()
        while (!stop) {
          const due = Math.floor((Date.now() - t0) / 1000 * a.probeRate)
          while (probeSent < due) {
            const from = probeSent % 2 === 0 ? pa : pb
            send(from, from === pa ? pb : pa, probeSent, 'probe', () => { probeAcked++ })
            probeSent++
          }
          await sleep(5)
        }
      })()
      const flood = await api.run(a)
      stop = true
      await probing
      return { ...flood, probe: { sent: probeSent, acked: probeAcked, unique: probeSeen.unique, duplicates: probeSeen.duplicates, latency: probeLatency.summary() } }
    },

    /** Send `rate` msg/s for `seconds`, then wait up to graceMs for every acknowledged one to arrive. @param {{ rate: number, seconds: number, graceMs: number }} a */
    async run (a) {
      measuring = true
      latency = new LatencyRecorder()
      const total = Math.round(a.rate * a.seconds)
      let sent = 0
      let slot = 0
      const t0 = Date.now()
      await new Promise((resolve) => {
        const tick = () => {
          const due = Math.min(total, Math.floor((Date.now() - t0) / 1000 * a.rate))
          while (sent < due) {
            const n = slot++
            const i = n % clients.length
            if (excluded.has(i)) continue // the probe's clients stay out of the flood
            const to = partner(i, Math.floor(n / clients.length) % args.partners)
            send(i, to, sent, false, () => { acked++ })
            sent++
          }
          if (sent >= total) resolve(undefined)
          else setTimeout(tick, 5)
        }
        tick()
      })
      const sendMs = Date.now() - t0
      let lastAcked = acked
      // A broker that fell behind is still working through its backlog: wait while deliveries
      // keep coming (up to graceMs), and stop early once nothing has arrived for 10 s.
      const deadline = Date.now() + a.graceMs
      let last = seen.unique
      let lastProgress = Date.now()
      while ((acked < sent || seen.unique < sent) && Date.now() < deadline && Date.now() - lastProgress < 10_000) {
        await sleep(50)
        if (seen.unique !== last || acked !== lastAcked) { last = seen.unique; lastAcked = acked; lastProgress = Date.now() }
      }
      const doneMs = Date.now() - t0
      // Gave up while messages were still arriving: the "loss" is (at least partly) a backlog.
      const stillArriving = seen.unique < sent && Date.now() - lastProgress < 10_000
      measuring = false
      await sleep(300) // late duplicates
      return {
        sent,
        acked,
        unique: seen.unique,
        duplicates: seen.duplicates,
        loss: Math.max(0, sent - seen.unique),
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
