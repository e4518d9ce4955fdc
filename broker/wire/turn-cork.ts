import { Writable } from 'node:stream'
import type { Socket } from 'node:net'

const kCorked = Symbol('hail.corkedThisTurn')
const streamWrite = Writable.prototype.write

type Corkable = Socket & { [kCorked]?: boolean }

let corked: Corkable[] = []
let scheduled = false

/**
 * Everything a connection is sent in one event-loop turn goes out in one
 * write (DESIGN.md: "a packet to one socket: its share of one corked write
 * per turn, never a writev per packet"). mqtt-packet corks a socket only until
 * the next tick, so each packet aedes writes was its own `writev`: a QoS 1
 * publish cost one for the PUBACK and one per subscriber copy, and a
 * subscriber taking 50 publishers' messages in a turn took 50 system calls.
 *
 * The first write of a turn corks the socket; one immediate per turn, queued
 * before any callback aedes queues after its write, uncorks every socket
 * corked in the turn. `end()` flushes what is corked; `destroy()` drops it, as
 * it drops whatever the socket had not sent yet. A socket whose flush throws is
 * destroyed with the error; the other sockets of the turn are flushed all the same.
 *
 * Returns false, changing nothing, for a stream whose `write` is not the
 * stream module's own (a wrapped or unusual socket).
 */
export function corkPerTurn (socket: Socket): boolean {
  if (socket.write !== streamWrite) return false
  // a shared function, not a closure: idle connections pay one property for it
  socket.write = corkingWrite as Socket['write']
  return true
}

function corkingWrite (this: Corkable, ...args: Parameters<Writable['write']>): boolean {
  if (this[kCorked] !== true && !this.destroyed) {
    this[kCorked] = true
    this.cork()
    corked.push(this)
    if (!scheduled) {
      scheduled = true
      setImmediate(uncorkAll)
    }
  }
  return streamWrite.apply(this, args)
}

function uncorkAll (): void {
  scheduled = false
  const sockets = corked
  corked = []
  for (const socket of sockets) {
    socket[kCorked] = false
    try {
      socket.uncork()
    } catch (err) {
      // A flush that throws (a transport's _writev) leaves that stream mid-write for good:
      // it is closed with the error, and the rest of the turn's sockets are still flushed.
      socket.destroy(err instanceof Error ? err : new Error(String(err)))
    }
  }
}
