import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'

/** The compiled CLI; test/run.sh builds it before the suite. */
export const HAIL_BIN = fileURLToPath(new URL('../../dist/bin/hail.js', import.meta.url))

export interface Bound { host: string, port: number }
export interface Addresses { mqtt?: Bound, http?: Bound, mqtts?: Bound, wss?: Bound }

/** A real `hail` daemon in a child process, as a user runs it. */
export class Daemon {
  readonly child: ChildProcess
  readonly lines: string[] = []
  #exit: Promise<number | null>
  #onLine: ((line: string) => void) | undefined

  private constructor (child: ChildProcess) {
    this.child = child
    this.#exit = once(child, 'exit').then(([code]) => code as number | null)
    // One reader for the daemon's life: closing a second one would pause stdout.
    createInterface({ input: child.stdout! }).on('line', (line) => {
      this.lines.push(line)
      this.#onLine?.(line)
    })
    child.stderr!.on('data', (d: Buffer) => this.lines.push(d.toString()))
  }

  /** Start `hail` with these flags and wait until it logs that it listens. */
  static async start (args: string[], timeoutMs = 20_000): Promise<{ daemon: Daemon, addresses: Addresses }> {
    const child = spawn(process.execPath, [HAIL_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    const daemon = new Daemon(child)
    const addresses = await new Promise<Addresses>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`hail did not listen within ${timeoutMs} ms:\n${daemon.lines.join('\n')}`)), timeoutMs)
      daemon.#onLine = (line) => {
        try {
          const entry = JSON.parse(line) as { msg?: string, addresses?: Addresses }
          if (entry.msg === 'listening' && entry.addresses) {
            clearTimeout(timer)
            daemon.#onLine = undefined
            resolve(entry.addresses)
          }
        } catch {}
      }
      daemon.#exit.then((code) => {
        clearTimeout(timer)
        reject(new Error(`hail exited with ${code} before listening:\n${daemon.lines.join('\n')}`))
      }, reject)
    })
    return { daemon, addresses }
  }

  get exited (): Promise<number | null> {
    return this.#exit
  }

  /** A real crash: SIGKILL, no chance to flush anything. */
  async kill9 (): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL')
    await this.#exit
  }

  /** A graceful stop; resolves to the exit code. */
  async stop (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal)
    return await this.#exit
  }
}

/** `hail user add NAME --password-stdin --data DIR`, the way an operator adds a user. */
export async function addUser (dir: string, name: string, password: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = execFile(process.execPath, [HAIL_BIN, 'user', 'add', name, '--password-stdin', '--data', dir], (err) => err ? reject(err) : resolve())
    child.stdin!.end(password + '\n')
  })
}
