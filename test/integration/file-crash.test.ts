import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { addUser, Daemon } from '../helpers/daemon.js'
import { PASSWORD, RawDevice } from '../helpers/im-server.js'

t.test('kill -9 of the daemon mid-upload leaves no file visible, keeps every acknowledged chunk, and the upload resumes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hail-file-crash-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await addUser(dir, 'alice', PASSWORD)
  const args = ['--data', dir, '--mqtt-port', '0', '--http-port', 'off']
  let { daemon, addresses } = await Daemon.start(args)
  t.teardown(() => daemon.kill9())

  const data = randomBytes(12 * 1024 * 1024)
  const file = { name: 'fw.bin', size: data.length, type: 'application/octet-stream', sha256: createHash('sha256').update(data).digest('hex') }
  let device = await RawDevice.connect(t, addresses.mqtt!.port, 'alice', 'sensor')
  const { uploadId, chunkBytes, chunks } = await device.request('file.start', file)

  // Chunks go out in a window; the daemon dies once a third of them are acknowledged.
  const acked = new Set<number>()
  const client = device.client
  const killAt = Math.floor(chunks / 3)
  let next = 0
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      if (next >= chunks || !client.connected) return
      const i = next++
      client.publish(`im/file/${uploadId}/${i}`, data.subarray(i * chunkBytes, (i + 1) * chunkBytes), { qos: 1 }, (err) => {
        if (err !== undefined && err !== null) return
        acked.add(i)
        if (acked.size === killAt) {
          daemon.kill9().then(() => resolve(), () => resolve())
          return
        }
        pump()
      })
    }
    for (let w = 0; w < 6; w++) pump()
  })
  client.end(true)
  t.ok(acked.size >= killAt, `${acked.size} chunks acknowledged before the crash`)

  const files = join(dir, 'files')
  t.same(await readdir(files), ['uploads'], 'no finished file is visible after the crash')

  ;({ daemon, addresses } = await Daemon.start(args))
  device = await RawDevice.connect(t, addresses.mqtt!.port, 'alice', 'sensor')
  const resumed = await device.request('file.start', file)
  t.equal(resumed.uploadId, uploadId, 'the upload resumes under its id')
  const have = new Set<number>(resumed.have)
  t.ok([...acked].every((i) => have.has(i)), 'every acknowledged chunk survived kill -9')

  const missing = [...Array(chunks).keys()].filter((i) => !have.has(i))
  for (const i of missing) await device.client.publishAsync(`im/file/${uploadId}/${i}`, data.subarray(i * chunkBytes, (i + 1) * chunkBytes), { qos: 1 })
  const stored = await device.request('file.finish', { uploadId })
  t.equal(stored.sha256, file.sha256)
  const blob = await readFile(join(files, file.sha256.slice(0, 2), file.sha256.slice(2)))
  t.equal(createHash('sha256').update(blob).digest('hex'), file.sha256, 'the stored file is whole')
  t.same(await readdir(join(files, 'uploads')), [])
  await device.end()
  t.equal(await daemon.stop(), 0)
})
