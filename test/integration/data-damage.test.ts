// A damaged data directory must be refused at start, not served with data
// silently gone (issue 19): each kind of damage on a directory a real daemon
// wrote (and a kill -9 left), refused with one line, then `hail repair`
// salvages it and reports, and the daemon starts on the result.
import t, { type Test } from 'tap'
import { cp, mkdtemp, open, readdir, rm, stat, truncate, unlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { addUser, Daemon } from '../helpers/daemon.js'
import { hail } from '../helpers/hail-cli.js'
import { PASSWORD, RawDevice } from '../helpers/im-server.js'

const CONV = 'd:alice:bob'
const PER_RUN = 300
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

function args (dir: string): string[] {
  return ['--data', dir, '--mqtt-port', '0', '--http-port', 'off', '--allow-anonymous']
}

async function send (port: number, from: number): Promise<void> {
  const alice = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'alice/phone', username: 'alice', password: PASSWORD, reconnectPeriod: 0 })
  for (let i = from; i < from + PER_RUN; i++) {
    await alice.publishAsync(`im/send/${CONV}`, JSON.stringify({ cid: `m${i}`, kind: 'text', body: { text: `message ${i}` } }), { qos: 1 })
  }
  await alice.endAsync()
}

/**
 * A data directory as a daemon leaves it: users, a conversation, a queue for
 * bob's offline phone, a retained message; a first run stopped cleanly (its
 * log becomes a table at the next start), a second one killed with -9 a
 * moment after its last write was acknowledged.
 */
async function writtenByDaemon (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hail-damage-base-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  for (const user of ['alice', 'bob']) await addUser(dir, user, PASSWORD)
  let { daemon, addresses } = await Daemon.start(args(dir))
  t.teardown(() => daemon.kill9())
  const port = addresses.mqtt!.port
  const bob = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'bob/phone', username: 'bob', password: PASSWORD, clean: false, reconnectPeriod: 0 })
  await bob.subscribeAsync('im/inbox/bob/#', { qos: 1 })
  await bob.endAsync()
  const sensor = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'sensor', reconnectPeriod: 0 })
  await sensor.publishAsync('site/7/temperature', '21.5', { qos: 1, retain: true })
  await sensor.endAsync()
  await send(port, 0)
  t.equal(await daemon.stop(), 0, 'the first run stops cleanly')
  ;({ daemon, addresses } = await Daemon.start(args(dir)))
  await send(addresses.mqtt!.port, PER_RUN)
  await sleep(1500) // past the seal's mark interval: the mark knows the last batch
  await daemon.kill9()
  return dir
}

async function copyOf (t: Test, base: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hail-damage-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await cp(base, dir, { recursive: true, filter: (path) => !path.endsWith('admin.sock') }) // a kill -9 leaves its socket
  return dir
}

async function newest (dir: string, suffix: string): Promise<string> {
  const names = (await readdir(dir)).filter((name) => name.endsWith(suffix)).sort()
  return join(dir, names.at(-1)!)
}

async function largest (dir: string, suffix: string): Promise<string> {
  let best = ''
  let size = -1
  for (const name of (await readdir(dir)).filter((n) => n.endsWith(suffix))) {
    const s = (await stat(join(dir, name))).size
    if (s > size) [best, size] = [join(dir, name), s]
  }
  return best
}

async function overwrite (path: string, at: (size: number) => number, bytes: Buffer): Promise<void> {
  const file = await open(path, 'r+')
  try {
    await file.write(bytes, 0, bytes.length, at((await file.stat()).size))
  } finally {
    await file.close()
  }
}

async function messagesIn (port: number): Promise<number> {
  const reader = await RawDevice.connect(t, port, 'bob', 'reader', { clean: true })
  let count = 0
  for (let after = 0, more = true; more;) {
    const page = await reader.request('sync', { conv: CONV, after, limit: 500 })
    count += page.messages.length
    more = page.more
    after = page.messages.at(-1)?.seq ?? after
  }
  await reader.end()
  return count
}

const damages: Array<{ name: string, damage: (dir: string) => Promise<void>, lost: RegExp, messages: (n: number) => boolean }> = [
  {
    name: 'a truncated write-ahead log',
    damage: async (dir) => { const log = await newest(dir, '.log'); await truncate(log, Math.floor((await stat(log)).size / 2)) },
    lost: /write batches #\d+ to #\d+ \(\d+ writes\) were cut from the end of the write-ahead log/,
    messages: (n) => n >= PER_RUN && n < 2 * PER_RUN
  },
  {
    name: 'a zeroed stretch of the write-ahead log',
    damage: async (dir) => { await overwrite(await newest(dir, '.log'), (size) => Math.floor(size / 3), Buffer.alloc(4096)) },
    lost: /write batches #\d+ to #\d+ \(\d+ writes\) were in the unreadable stretch of \d+\.log/,
    // what the stretch held may be messages, queue entries or journal entries already done with
    messages: (n) => n >= PER_RUN && n <= 2 * PER_RUN
  },
  {
    name: 'garbled bytes in the write-ahead log',
    damage: async (dir) => { await overwrite(await newest(dir, '.log'), (size) => Math.floor(size / 2), Buffer.from('garbled bytes!')) },
    lost: /write batches #\d+ to #\d+ \(\d+ writes\) were in the unreadable stretch of \d+\.log/,
    // what the stretch held may be messages, queue entries or journal entries already done with
    messages: (n) => n >= PER_RUN && n <= 2 * PER_RUN
  },
  {
    name: 'a missing CURRENT',
    damage: async (dir) => { await unlink(join(dir, 'CURRENT')) },
    // LevelDB alone would have started empty: every user gone. Nothing is lost after the repair.
    lost: /no sealed write batch is known to be missing[\s\S]*users\s+0\s+2\n/,
    messages: (n) => n === 2 * PER_RUN
  },
  {
    name: 'a damaged table file',
    damage: async (dir) => { await overwrite(await largest(dir, '.ldb'), (size) => Math.floor(size / 2), Buffer.from('garbled bytes!')) },
    lost: /table \d+\.ldb did not verify and was set aside whole/,
    messages: () => true
  }
]

t.test('each kind of damage is refused at start, repaired by hail repair with a report, and the daemon starts after it', async (t) => {
  const base = await writtenByDaemon(t)
  for (const { name, damage, lost, messages } of damages) {
    await t.test(name, async (t) => {
      const dir = await copyOf(t, base)
      await damage(dir)

      const refused = await hail(args(dir), { timeoutMs: 20_000 })
      t.equal(refused.code, 1, 'the daemon refuses to start (exit 1)')
      t.match(refused.stderr, /^hail: data directory \S+ is damaged: \S.*; refusing to open it: run 'hail repair --data \S+' to salvage what can be read\n$/, 'with one line naming what is damaged')

      const repaired = await hail(['repair', '--data', dir])
      t.equal(repaired.code, 0, `hail repair exits 0 (${repaired.stderr})`)
      t.match(repaired.stdout, /^repaired data directory \S+\n\ndamage found:\n {2}\S/, 'it says what it found')
      t.match(repaired.stdout, lost, 'and what was lost')
      t.match(repaired.stdout, /per store: +before +after/, 'with counts per store before and after')
      t.match(repaired.stdout, /the data directory is whole again: hail can start on it\nthe damaged files were kept in \S+repair-/, 'and where the damaged files were kept')

      const { daemon, addresses } = await Daemon.start(args(dir))
      t.teardown(() => daemon.kill9())
      if (name !== 'a damaged table file') {
        const n = await messagesIn(addresses.mqtt!.port)
        t.ok(messages(n), `the daemon serves what was salvaged (${n} of ${2 * PER_RUN} messages)`)
      }
      t.equal(await daemon.stop(), 0, 'the repaired directory runs and stops cleanly')
      t.equal((await hail(['repair', '--data', dir])).stdout, `data directory ${dir} is whole: nothing to repair, nothing changed\n`, 'and stays whole')
    })
  }
})

t.test('a directory that a kill -9 left, undamaged, starts without a word of damage', async (t) => {
  const base = await writtenByDaemon(t)
  const { daemon, addresses } = await Daemon.start(args(base))
  t.teardown(() => daemon.kill9())
  t.equal(await messagesIn(addresses.mqtt!.port), 2 * PER_RUN, 'every acknowledged message is there')
  t.notMatch(daemon.lines.join('\n'), /damaged/, 'and nothing is called damaged')
})
