import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { networkInterfaces } from 'node:os'
import { promisify } from 'node:util'

const run = promisify(execFile)

/**
 * Why a lossy-link test cannot run here, or undefined when it can: it needs
 * root (network namespaces, veth, nftables) and Debian's `ip` and `nft`.
 */
export function netnsUnavailable (): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces and nftables rules'
  for (const tool of ['ip', 'nft']) {
    try {
      execFileSync(tool, ['-V'], { stdio: 'ignore' })
    } catch {
      return `needs \`${tool}\` (Debian's ${tool === 'ip' ? 'iproute2' : 'nftables'})`
    }
  }
  return undefined
}

export interface LossyLinkOptions {
  /** Percent (0-100) of UDP datagrams dropped at random, in each direction. */
  udpLossPercent?: number
}

const PREFIX = 'hail-loss-'
const live = new Set<LossyLink>()
let exitHookInstalled = false

/**
 * A network namespace joined to the test's own (root) namespace by a veth
 * pair with private addresses 10.77.X.1 (root side) and 10.77.X.2 (inside),
 * and an nftables table inside the namespace that drops a given percentage of
 * UDP at random in both directions (netem is not available in every kernel;
 * `numgen random` is). The namespace has no other route: nothing run in it
 * can reach anything but the root side of the link.
 */
export class LossyLink {
  readonly name: string
  readonly hostAddress: string
  readonly nsAddress: string
  readonly #hostIf: string
  readonly #nsIf: string
  #children = new Set<ChildProcess>()
  #closed = false
  #lossPercent = 0

  private constructor (name: string, octet: number, tag: string) {
    this.name = name
    this.hostAddress = `10.77.${octet}.1`
    this.nsAddress = `10.77.${octet}.2`
    this.#hostIf = `hl${tag}h`
    this.#nsIf = `hl${tag}n`
  }

  static async create (options: LossyLinkOptions = {}): Promise<LossyLink> {
    await removeStale()
    const octet = freeOctet()
    const tag = `${process.pid % 100000}${octet}`.slice(-10)
    const link = new LossyLink(`${PREFIX}${process.pid}-${octet}`, octet, tag)
    live.add(link)
    installExitHook()
    try {
      await link.#setUp()
      await link.setLoss(options.udpLossPercent ?? 0)
    } catch (err) {
      await link.close()
      throw err
    }
    return link
  }

  get lossPercent (): number {
    return this.#lossPercent
  }

  async #setUp (): Promise<void> {
    const ns = this.name
    await run('ip', ['netns', 'add', ns])
    await run('ip', ['link', 'add', this.#hostIf, 'type', 'veth', 'peer', 'name', this.#nsIf])
    await run('ip', ['link', 'set', this.#nsIf, 'netns', ns])
    await run('ip', ['addr', 'add', `${this.hostAddress}/24`, 'dev', this.#hostIf])
    await run('ip', ['link', 'set', this.#hostIf, 'up'])
    await run('ip', ['-n', ns, 'addr', 'add', `${this.nsAddress}/24`, 'dev', this.#nsIf])
    await run('ip', ['-n', ns, 'link', 'set', this.#nsIf, 'up'])
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
  }

  /** Replace the drop rules: `percent` of UDP on the link, each direction. */
  async setLoss (percent: number): Promise<void> {
    if (!Number.isInteger(percent) || percent < 0 || percent > 100) throw new RangeError(`loss percent ${percent}`)
    const rule = (hook: 'input' | 'output'): string => percent === 0
      ? ''
      : `${hook === 'input' ? 'iifname' : 'oifname'} "${this.#nsIf}" meta l4proto udp numgen random mod 100 < ${percent} counter drop`
    const script = [
      'table inet hail_loss {}',
      'delete table inet hail_loss',
      'table inet hail_loss {',
      `  chain in { type filter hook input priority 0; policy accept; ${rule('input')}; }`,
      `  chain out { type filter hook output priority 0; policy accept; ${rule('output')}; }`,
      '}'
    ].join('\n')
    await this.#nftScript(script)
    this.#lossPercent = percent
  }

  /**
   * Drop the first UDP datagram that leaves the namespace with `firstByte` as
   * the first byte of its payload, once (a token bucket of one packet that
   * refills hourly); counted in dropped().out. E.g. 0x14: a DTLS record of
   * type ChangeCipherSpec, which starts the DTLS server's last flight.
   */
  async dropFirstOutgoing (firstByte: number, count = 1): Promise<void> {
    if (!Number.isInteger(firstByte) || firstByte < 0 || firstByte > 255) throw new RangeError(`byte ${firstByte}`)
    await this.#nftScript(`add rule inet hail_loss out oifname "${this.#nsIf}" udp length > 8 @th,64,8 ${firstByte} limit rate 1/hour burst ${count} packets counter drop\n`)
  }

  async #nftScript (script: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('ip', ['netns', 'exec', this.name, 'nft', '-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] })
      let stderr = ''
      child.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
      child.on('error', reject)
      child.on('exit', (code) => code === 0 ? resolve() : reject(new Error(`nft exited with ${code}: ${stderr}`)))
      child.stdin!.end(script)
    })
  }

  /** How many UDP datagrams the rules dropped so far: [into the namespace, out of it]. */
  async dropped (): Promise<{ in: number, out: number }> {
    const { stdout } = await run('ip', ['netns', 'exec', this.name, 'nft', '-j', 'list', 'table', 'inet', 'hail_loss'])
    interface NftRule { chain: string, expr: Array<{ counter?: { packets: number } }> }
    const counts = { in: 0, out: 0 }
    for (const item of (JSON.parse(stdout) as { nftables: Array<{ rule?: NftRule }> }).nftables) {
      const rule = item.rule
      if (rule === undefined) continue
      const counter = rule.expr.find((e) => e.counter !== undefined)?.counter
      if (counter !== undefined) counts[rule.chain === 'in' ? 'in' : 'out'] += counter.packets
    }
    return counts
  }

  /** Start a command inside the namespace (killed by close()). */
  spawn (command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
    if (this.#closed) throw new Error('lossy link is closed')
    const child = spawn('ip', ['netns', 'exec', this.name, command, ...args], options)
    this.#children.add(child)
    child.once('exit', () => this.#children.delete(child))
    return child
  }

  /** Kill what runs inside, delete the namespace (its veth end, the peer end and its nft table go with it). */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.all([...this.#children].map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
    }))
    await run('ip', ['netns', 'del', this.name]).catch(() => {})
    await run('ip', ['link', 'del', this.#hostIf]).catch(() => {})
    live.delete(this)
  }

  /** Synchronous last resort when the test process exits without close(). */
  closeSync (): void {
    for (const child of this.#children) child.kill('SIGKILL')
    try { execFileSync('ip', ['netns', 'del', this.name], { stdio: 'ignore' }) } catch {}
    try { execFileSync('ip', ['link', 'del', this.#hostIf], { stdio: 'ignore' }) } catch {}
    live.delete(this)
  }
}

function installExitHook (): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once('exit', () => {
    for (const link of [...live]) link.closeSync()
  })
}

/** A third octet for 10.77.X.0/24 that no interface of the root namespace uses yet. */
function freeOctet (): number {
  const used = new Set<number>()
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) {
      const m = /^10\.77\.(\d+)\./.exec(a.address)
      if (m !== null) used.add(Number(m[1]))
    }
  }
  for (const link of live) used.add(Number(link.hostAddress.split('.')[2]))
  // start from the pid so that test processes running side by side pick apart
  const start = process.pid + live.size * 37
  for (let i = 0; i < 250; i++) {
    const octet = 1 + ((start + i) % 250)
    if (!used.has(octet)) return octet
  }
  throw new Error('no free 10.77.X.0/24 subnet for a lossy link')
}

/** Namespaces left by a test process that died (its pid is in the name) are removed. */
async function removeStale (): Promise<void> {
  const { stdout } = await run('ip', ['netns', 'list'])
  for (const line of stdout.split('\n')) {
    const m = new RegExp(`^(${PREFIX}(\\d+)-\\d+)`).exec(line)
    if (m === null) continue
    const pid = Number(m[2])
    if (pid === process.pid || isAlive(pid)) continue
    await run('ip', ['netns', 'del', m[1]!]).catch(() => {})
  }
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
