// chat-crash: the chat cell's flow on Hail's IM protocol (im/send to direct
// conversations, QoS 1) while the harness kills the broker with SIGKILL and
// restarts it. Devices reconnect (clean false) and resend every unacknowledged
// send with its cid (idempotent on the server). At the end every device
// catches up as docs/protocol.md says (sync.all from its cursors, then sync),
// and every conversation's log is read from seq 1: an im/send that got its
// PUBACK and is missing from either counts as lost.
import { missing } from './fanin-crash-load.mjs'
import { ReconnectingClient } from './reconnecting-client.mjs'
import { SeenSet, pool, sleep } from './recorder.mjs'

/**
 * @typedef {object} ChatCrashArgs
 * @property {number} port
 * @property {number} clients
 * @property {number} partners
 * @property {{ user: string, password: string }[]} creds
 * @property {string} run
 */

export function createChatCrash () {
  /** @type {ChatCrashArgs} */
  let args
  /** @type {ReconnectingClient[]} */
  let clients = []
  /** PUBACKed sends (sender index, its own seq) */
  const acked = new SeenSet()
  /** what recipients showed: live or by their catch-up sync */
  const shown = new SeenSet()
  /** per device: conv → the last seq shown gapless, and seqs shown past it */
  /** @type {Map<string, { cursor: number, ahead: Set<number> }>[]} */
  let cursors = []
  /** deliveries a device had already shown (at-least-once MQTT redelivery; the app drops them by seq) */
  let redelivered = 0
  let errors = 0
  /** @type {string | undefined} */
  let firstError
  let sent = 0
  let running = false
  let startedAt = 0
  let nextReq = 1
  /** @type {Map<string, { resolve: (r: any) => void, reject: (e: Error) => void }>} */
  const waiting = new Map()
  /** @type {number[]} */
  let seqOf = []

  /** @param {number} i */
  const user = (i) => args.creds[i].user
  /** @param {number} i @param {number} k */
  const partner = (i, k) => (i + 1 + k) % args.clients
  /** @param {number} a @param {number} b */
  const conv = (a, b) => `d:${[user(a), user(b)].sort().join(':')}`
  const index = new Map()

  /** A message's stamp: 'm' (flow) sender index and seq, or null (warm-up). @param {any} msg */
  const stamp = (msg) => {
    const text = msg?.body?.text
    if (typeof text !== 'string' || !text.startsWith('m:')) return null
    const [, from, seq] = text.split(':')
    return { from: Number(from), seq: Number(seq) }
  }

  /** Device i shows `msg` (live or from sync): advance its cursor, count it. @param {number} i @param {any} msg @returns {boolean} new to the device */
  const show = (i, msg) => {
    let c = cursors[i].get(msg.conv)
    if (c === undefined) cursors[i].set(msg.conv, c = { cursor: 0, ahead: new Set() })
    if (msg.seq <= c.cursor || c.ahead.has(msg.seq)) return false
    c.ahead.add(msg.seq)
    while (c.ahead.delete(c.cursor + 1)) c.cursor++
    const s = stamp(msg)
    if (s !== null && msg.from !== user(i)) shown.mark(s.from, s.seq)
    return true
  }

  /** An im/cmd request from device i, answered on its reply topic. @param {number} i @param {string} method @param {object} body @returns {Promise<any>} */
  const request = (i, method, body) => new Promise((resolve, reject) => {
    const req = `q${nextReq++}`
    const timer = setTimeout(() => { waiting.delete(req); reject(new Error(`${method} from ${user(i)}: no answer within 60 s`)) }, 60_000)
    waiting.set(req, {
      resolve: (r) => { clearTimeout(timer); resolve(r) },
      reject: (e) => { clearTimeout(timer); reject(e) }
    })
    clients[i].publish(`im/cmd/${method}`, JSON.stringify({ req, ...body }), () => {})
  })

  /** @param {number} from @param {number} to @param {string} text @param {() => void} onAck */
  const send = (from, to, text, onAck) => {
    const cid = `k${text.split(':')[2]}-${text[0]}`
    clients[from].publish(`im/send/${conv(from, to)}`, JSON.stringify({ cid, kind: 'text', body: { text } }), onAck)
  }

  /** Every page of `conv` after `after`, as device i. @param {number} i @param {string} c @param {number} after @param {(msg: any) => void} each */
  const syncAll = async (i, c, after, each) => {
    for (;;) {
      const r = await request(i, 'sync', { conv: c, after, limit: 500 })
      for (const m of r.messages) each(m)
      if (!r.more || r.messages.length === 0) return r.lastSeq
      after = r.messages[r.messages.length - 1].seq
    }
  }

  return {
    /** @param {ChatCrashArgs} a */
    async connect (a) {
      args = a
      seqOf = new Array(a.clients).fill(0)
      cursors = Array.from({ length: a.clients }, () => new Map())
      for (let i = 0; i < a.clients; i++) index.set(user(i), i)
      clients = Array.from({ length: a.clients }, (_, i) => {
        const filters = [`im/inbox/${user(i)}/#`, `im/reply/${user(i)}/bench`]
        const client = new ReconnectingClient({
          client: { port: a.port, clientId: `${user(i)}/bench`, clean: false, username: user(i), password: a.creds[i].password, connectTimeoutMs: 120_000 },
          onConnect: async (raw, sessionPresent) => {
            if (sessionPresent) return
            const granted = await raw.subscribe(filters, 1)
            if (granted.some((g) => g !== 1)) throw new Error(`chat-crash subscription of ${filters.join(', ')} granted ${granted.join(',')}`)
          }
        })
        client.on('message', (_topic, body) => {
          let msg
          try { msg = JSON.parse(body.toString()) } catch { return }
          if (msg.type === 'message') {
            if (!show(i, msg.msg)) redelivered++
          } else if (msg.type === 'result') {
            const w = waiting.get(msg.req)
            if (w === undefined) return
            waiting.delete(msg.req)
            if (msg.ok) w.resolve(msg.result)
            else w.reject(new Error(`${msg.req}: ${JSON.stringify(msg.error)}`))
          } else if (msg.type === 'error') {
            errors++
            firstError ??= JSON.stringify(msg.error)
          }
        })
        return client
      })
      await pool(clients, 50, (c) => c.connect())
      return { connected: clients.length }
    },

    /** One message from every client to each partner: creates the direct conversations. */
    async warmup () {
      await pool(clients, 50, async (_client, i) => {
        for (let k = 0; k < args.partners; k++) await new Promise((resolve) => send(i, partner(i, k), `w:${i}:${k}`, () => resolve(undefined)))
      })
      return {}
    },

    /** Send `rate` msg/s, round robin over the clients and their partners, until stop(). @param {{ rate: number }} a */
    start (a) {
      running = true
      startedAt = Date.now()
      let slot = 0
      const tick = () => {
        if (!running) return
        const due = Math.floor((Date.now() - startedAt) / 1000 * a.rate)
        while (sent < due) {
          const n = slot++
          const from = n % clients.length
          const to = partner(from, Math.floor(n / clients.length) % args.partners)
          const seq = seqOf[from]++
          sent++
          send(from, to, `m:${from}:${seq}`, () => acked.mark(from, seq))
        }
        setTimeout(tick, 5)
      }
      tick()
      return {}
    },

    progress () {
      return { sent, acked: acked.unique, shown: shown.unique }
    },

    /**
     * Stop sending; wait for the sends in flight to be acknowledged and for live delivery to settle;
     * then every device catches up from its cursors, and every conversation's log is read from 1.
     * @param {{ graceMs?: number, stallMs?: number }} a
     */
    async stop (a) {
      running = false
      const flowMs = Date.now() - startedAt
      const deadline = Date.now() + (a.graceMs ?? 60_000)
      while (clients.some((c) => c.inflight.size > 0) && Date.now() < deadline) await sleep(50)
      const unacked = clients.reduce((n, c) => n + c.inflight.size, 0)
      let last = shown.unique
      let lastProgress = Date.now()
      while (missing(acked, shown).count > 0 && Date.now() < deadline && Date.now() - lastProgress < (a.stallMs ?? 5000)) {
        await sleep(100)
        if (shown.unique !== last) { last = shown.unique; lastProgress = Date.now() }
      }
      const live = shown.unique
      const liveMissing = missing(acked, shown).count

      // Catch-up as a device does after a reconnect: sync.all from its cursors, then sync what it left.
      const syncStart = Date.now()
      await pool(clients, 20, async (_c, i) => {
        const after = Object.fromEntries([...cursors[i]].map(([c, v]) => [c, v.cursor]))
        const r = await request(i, 'sync.all', { after, limit: 500 })
        const paged = new Set()
        for (const page of r.pages) {
          paged.add(page.conv)
          for (const m of page.messages) show(i, m)
          if (page.more) await syncAll(i, page.conv, cursors[i].get(page.conv)?.cursor ?? 0, (m) => show(i, m))
        }
        for (const c of r.conversations) {
          if (!paged.has(c.conv) && c.lastSeq > (cursors[i].get(c.conv)?.cursor ?? 0)) await syncAll(i, c.conv, cursors[i].get(c.conv)?.cursor ?? 0, (m) => show(i, m))
        }
      })
      const syncMs = Date.now() - syncStart
      const atRecipient = missing(acked, shown)

      // The log itself: each conversation read from seq 1 by one of its members.
      const inLog = new SeenSet()
      let notGapless = 0
      let storedTwice = 0
      /** @type {string[]} */
      const logProblems = []
      const convs = new Map()
      for (let i = 0; i < args.clients; i++) for (let k = 0; k < args.partners; k++) convs.set(conv(i, partner(i, k)), i)
      await pool([...convs], 20, async ([c, i]) => {
        const cids = new Set()
        let expect = 1
        await syncAll(i, c, 0, (m) => {
          if (m.seq !== expect) { notGapless++; if (logProblems.length < 10) logProblems.push(`${c}: seq ${m.seq} after ${expect - 1}`) }
          expect = m.seq + 1
          const key = `${m.from}|${m.cid}`
          if (cids.has(key)) { storedTwice++; if (logProblems.length < 10) logProblems.push(`${c}: ${key} stored twice`) }
          cids.add(key)
          const s = stamp(m)
          if (s !== null) inLog.mark(s.from, s.seq)
        })
      })
      const fromLog = missing(acked, inLog)
      return {
        sent,
        acked: acked.unique,
        unacked,
        shownLive: live,
        missingAfterLive: liveMissing,
        shown: shown.unique,
        redelivered,
        lostAtRecipient: atRecipient.count,
        lostFromLog: fromLog.count,
        firstLost: [...new Set([...atRecipient.first, ...fromLog.first])].slice(0, 20),
        notGapless,
        storedTwice,
        logProblems,
        errors,
        firstError: firstError ?? null,
        flowMs,
        syncMs,
        resent: clients.reduce((n, c) => n + c.resent, 0),
        reconnects: clients.reduce((n, c) => n + c.reconnects, 0),
        sessionsLost: clients.reduce((n, c) => n + c.sessionsLost, 0)
      }
    },

    async close () {
      await pool(clients, 200, (c) => { c.destroy(); return Promise.resolve() })
      clients = []
      return {}
    }
  }
}
