import type { Envelope, Recall } from '../../protocol/index.js'
import { messageOf, rememberMessage } from './message-payloads.js'
import { Publisher } from './publisher.js'
import type { RecallIndex } from './store/recall-index.js'
import { tombstoneOf } from './store/tombstone.js'

const INBOX = 'im/inbox/'
const FEED = 'im/conv/'

/** What of a delivery the rewrite reads and may replace. */
export interface ForwardedPacket {
  topic: string
  payload: Buffer | string
}

/**
 * The recalled messages this node knows of, so that a delivery still
 * carrying a recalled message's text goes out as its tombstone instead: a
 * copy waiting in a device's MQTT offline queue since before the recall
 * (either persistence), or one in flight at the recall and sent again on
 * reconnect. The rewrite runs in aedes' authorizeForward, on every delivery
 * and drained packet alike, so it cannot wait for a store: the index is held
 * here in memory, loaded at start, added to by this node's recalls, and, on
 * a shared Redis, caught up with the other nodes' before each drain
 * (refresh(): one read of the index's size, and the index itself only when
 * it grew). With no recall at all a delivery costs one size check.
 */
export class RecalledMessages {
  readonly #index: RecallIndex
  /** conv → seq → who recalled it. */
  readonly #byConv = new Map<string, Map<number, Recall>>()
  /** The index's size when last read whole. */
  #listed = -1
  #reading: Promise<void> | undefined

  constructor (index: RecallIndex) {
    this.#index = index
  }

  /** Reads the whole index (at start). */
  async load (): Promise<void> {
    const size = await this.#index.size()
    for (const { conv, seq, deleted } of await this.#index.list()) this.#note(conv, seq, deleted)
    this.#listed = size
  }

  /**
   * Records a recall durably, then here: from then on this node rewrites
   * the message's deliveries. Before the tombstone is written to the log, so
   * that no copy slips out between the two.
   */
  async add (conv: string, seq: number, deleted: Recall): Promise<void> {
    await this.#index.add(conv, seq, deleted)
    this.#note(conv, seq, deleted)
  }

  /** Catches up with recalls made on other nodes sharing the index; concurrent calls share one read. */
  refresh (): Promise<void> {
    this.#reading ??= (async () => {
      try {
        if (await this.#index.size() !== this.#listed) await this.load()
      } finally {
        this.#reading = undefined
      }
    })()
    return this.#reading
  }

  /**
   * Turns a message delivery of a recalled message (or of one of its edits)
   * into the tombstone the log now holds, in place; leaves any other packet
   * as it is. Each queued message still goes out once and in its place.
   */
  rewrite (packet: ForwardedPacket): void {
    if (this.#byConv.size === 0) return
    const recalled = this.#byConv.get(convOf(packet.topic))
    if (recalled === undefined) return
    const known = messageOf(packet.payload)
    // a payload Fanout encoded at this node names its seq; an edit must be read for its ref
    if (known !== undefined && !recalled.has(known.seq) && !packet.payload.includes('"kind":"edit"')) return
    let event: { type?: unknown, msg?: Envelope }
    try {
      event = JSON.parse(packet.payload.toString())
    } catch {
      return
    }
    const msg = event?.msg
    if (event?.type !== 'message' || typeof msg !== 'object' || msg === null || msg.deleted !== undefined) return
    const deleted = recalled.get(msg.seq) ?? (msg.kind === 'edit' ? recalled.get(refOf(msg) ?? -1) : undefined)
    if (deleted === undefined) return
    const payload = Publisher.encode({ type: 'message', msg: tombstoneOf(msg, deleted) })
    rememberMessage(payload, { conv: msg.conv, seq: msg.seq, from: msg.from })
    packet.payload = payload
  }

  #note (conv: string, seq: number, deleted: Recall): void {
    let seqs = this.#byConv.get(conv)
    if (seqs === undefined) this.#byConv.set(conv, seqs = new Map())
    if (!seqs.has(seq)) seqs.set(seq, deleted)
  }
}

/** The conversation of an IM delivery topic (im/inbox/{user}/{conv}, im/conv/{conv}), else ''. */
function convOf (topic: string): string {
  if (topic.startsWith(INBOX)) {
    const slash = topic.indexOf('/', INBOX.length)
    return slash < 0 ? '' : topic.slice(slash + 1)
  }
  return topic.startsWith(FEED) ? topic.slice(FEED.length) : ''
}

function refOf (envelope: Envelope): number | undefined {
  const ref = (envelope.body as { ref?: unknown } | null)?.ref
  return typeof ref === 'number' ? ref : undefined
}
