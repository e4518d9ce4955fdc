// The load generator as a child process on its own CPU, driven by RPC.
import { fork } from 'node:child_process'
import { pin } from './proc.mjs'

const WORKER = new URL('../load/worker.mjs', import.meta.url).pathname

export class LoadProcess {
  /** @param {{ cpu?: number }} [o] */
  constructor (o = {}) {
    this.child = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--max-old-space-size=4096'] })
    this.pinned = this.child.pid !== undefined && pin(this.child.pid, o.cpu ?? 1)
    this.nextId = 1
    /** @type {Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>} */
    this.waiting = new Map()
    this.child.on('message', (/** @type {any} */ msg) => {
      const w = this.waiting.get(msg.id)
      if (w === undefined) return
      this.waiting.delete(msg.id)
      if (msg.ok) w.resolve(msg.result)
      else w.reject(new Error(`load worker: ${msg.error}`))
    })
    this.child.on('exit', (code, signal) => {
      for (const w of this.waiting.values()) w.reject(new Error(`load worker exited (${code ?? signal})`))
      this.waiting.clear()
    })
  }

  /** @param {string} scenario @param {string} op @param {object} [args] @param {number} [timeoutMs] @returns {Promise<any>} */
  call (scenario, op, args = {}, timeoutMs = 600_000) {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id)
        reject(new Error(`load worker: ${scenario}.${op} took over ${timeoutMs / 1000} s`))
      }, timeoutMs)
      this.waiting.set(id, {
        resolve: (v) => { clearTimeout(timer); resolve(v) },
        reject: (e) => { clearTimeout(timer); reject(e) }
      })
      this.child.send({ id, scenario, op, args })
    })
  }

  async close () {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.child.disconnect()
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }
}
