import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { Level } from 'level'
import { GroupCommit } from '../../../../broker/storage/index.js'
import { LevelMessageLog } from '../../../../broker/im/store/level-message-log.js'
import type { Envelope } from '../../../../broker/im/store/message-log.js'

const CHILD = fileURLToPath(new URL('./fixtures/append-until-killed.ts', import.meta.url))
// the child runs the TypeScript sources through tap's own loader
const LOADER = process.execArgv.filter(arg => arg.includes('@tapjs/typescript'))
const ROUNDS = 3
const LINES_BEFORE_KILL = 600

interface Printed { conv: string, seq: number, cid: string, duplicate: boolean }

/** Runs the child until it printed `lines` acknowledged appends, then SIGKILLs it mid-stream. */
async function appendUntilKilled (dir: string, round: number, lines: number): Promise<Printed[]> {
  const env = { ...process.env }
  delete env.NODE_OPTIONS
  const child = spawn(process.execPath, [...LOADER, CHILD, dir, String(round)], { stdio: ['ignore', 'pipe', 'pipe'], env })
  const exited = once(child, 'exit')
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const printed: Printed[] = []
  const rl = createInterface({ input: child.stdout })
  const drained = once(rl, 'close')
  await new Promise<void>((resolve, reject) => {
    rl.on('line', (line) => {
      if (line === 'ready') return
      printed.push(JSON.parse(line) as Printed)
      if (printed.length === lines) resolve()
    })
    void exited.then(() => reject(new Error(`the child exited early:\n${stderr}`)))
  })
  child.kill('SIGKILL')
  await exited
  // lines already in the pipe were printed after their append resolved too
  await drained
  return printed
}

async function readAll (log: LevelMessageLog, conv: string): Promise<Envelope[]> {
  const all: Envelope[] = []
  for (let after = 0, more = true; more;) {
    const page = await log.read(conv, { after, limit: 500 })
    all.push(...page.messages)
    more = page.more
    after = page.messages.at(-1)?.seq ?? after
  }
  return all
}

t.test('every append that resolved before kill -9 is there after a restart, with gapless seqs', async (t) => {
  t.ok(LOADER.length > 0, 'runs under tap, whose TypeScript loader the child uses')
  const dir = await mkdtemp(join(tmpdir(), 'hail-im-log-crash-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const lastSeqs = new Map<string, number>()

  for (let round = 1; round <= ROUNDS; round++) {
    const printed = await appendUntilKilled(dir, round, LINES_BEFORE_KILL)
    const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' })
    await db.open()
    const log = new LevelMessageLog(db.sublevel<string, string>('im-log', { keyEncoding: 'utf8', valueEncoding: 'utf8' }), new GroupCommit(db))

    const lost = []
    for (const line of printed) {
      const stored = await log.get(line.conv, line.seq)
      if (stored?.cid !== line.cid || (stored.body as { cid: string }).cid !== line.cid) lost.push(line)
    }
    t.same(lost, [], `round ${round}: all ${printed.length} acknowledged appends are stored at their seq`)
    const first = printed.filter(line => !line.duplicate)
    for (const [conv, before] of lastSeqs) {
      const seqs = first.filter(line => line.conv === conv).map(line => line.seq)
      t.ok(Math.min(...seqs) > before, `round ${round}: ${conv} went on after seq ${before}, reusing none`)
    }

    for (const conv of new Set(printed.map(line => line.conv))) {
      const all = await readAll(log, conv)
      const lastSeq = await log.lastSeq(conv)
      t.same(all.map(m => m.seq), Array.from({ length: lastSeq }, (_, i) => i + 1), `round ${round}: ${conv} holds seqs 1..${lastSeq} without a gap`)
      t.equal(new Set(all.map(m => m.cid)).size, all.length, `round ${round}: ${conv} holds each cid once`)
      t.ok(lastSeq >= Math.max(...printed.filter(l => l.conv === conv).map(l => l.seq)), `round ${round}: ${conv}: lastSeq covers every acknowledged seq`)
      lastSeqs.set(conv, lastSeq)
    }

    const sample = first[Math.floor(first.length / 2)]
    const resent = await log.append(sample.conv, { from: 'alice', device: 'dev0', cid: sample.cid, kind: 'text', body: 'again' })
    t.same([resent.duplicate, resent.envelope.seq], [true, sample.seq], `round ${round}: a resend after the crash gets the stored seq`)
    await log.close()
    await db.close()
  }
})
