import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { imServer, RawDevice } from '../../helpers/im-server.js'
import { waitFor } from '../../helpers/wait-for.js'

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')

async function sendChunks (device: RawDevice, uploadId: string, data: Buffer, chunkBytes: number, indexes: number[]): Promise<void> {
  // A window of QoS 1 publishes; each PUBACK means that chunk is on disk.
  const queue = [...indexes]
  await Promise.all(Array.from({ length: 8 }, async () => {
    for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
      await device.client.publishAsync(`im/file/${uploadId}/${i}`, data.subarray(i * chunkBytes, (i + 1) * chunkBytes), { qos: 1 })
    }
  }))
}

t.test('a 20 MB upload over MQTT survives a disconnect, resumes from the chunks the server has, and stores the file intact', async (t) => {
  const { server, port, dir } = await imServer(t, ['alice'])
  const data = randomBytes(20 * 1024 * 1024)
  const file = { name: 'dump.bin', size: data.length, type: 'application/octet-stream', sha256: sha256(data) }

  let alice = await RawDevice.connect(t, port, 'alice', 'sensor')
  const first = await alice.request('file.start', file)
  t.match(first, { uploadId: /^[0-9a-f]{32}$/, have: [] })
  t.ok(first.chunkBytes < server.config.limits.maxPacketSize, 'a chunk fits in one packet')
  const chunks = Math.ceil(data.length / first.chunkBytes)
  t.equal(first.chunks, chunks)
  const half = [...Array(Math.floor(chunks / 2)).keys()]
  await sendChunks(alice, first.uploadId, data, first.chunkBytes, half)
  await alice.end()

  alice = await RawDevice.connect(t, port, 'alice', 'sensor')
  const resumed = await alice.request('file.start', file)
  t.equal(resumed.uploadId, first.uploadId, 'the same file gets the same upload')
  t.same(resumed.have, half, 'the server has every chunk acknowledged before the disconnect')
  t.same((await alice.request('file.status', { uploadId: first.uploadId })).have, half)
  await sendChunks(alice, first.uploadId, data, first.chunkBytes, [...Array(chunks).keys()].filter((i) => !half.includes(i)))
  const stored = await alice.request('file.finish', { uploadId: first.uploadId })
  t.match(stored, { fileId: /^f[0-9a-f]{24}$/, sha256: file.sha256, size: data.length, name: 'dump.bin' })

  const blob = await readFile(join(dir, 'data', 'files', file.sha256.slice(0, 2), file.sha256.slice(2)))
  t.equal(sha256(blob), file.sha256, 'the stored bytes hash to what the client said')
  t.same(await readdir(join(dir, 'data', 'files', 'uploads')), [], 'the finished upload left nothing behind')
  t.match(await server.files.index.get(stored.fileId), { owner: 'alice', size: data.length, convs: [] })
  await t.rejects(alice.request('file.status', { uploadId: first.uploadId }), { code: 'HAIL_ERR_NOT_FOUND' })
})

t.test('file.finish refuses a wrong hash with HAIL_ERR_FILE_HASH and an oversized file is refused at file.start; nothing is left behind', async (t) => {
  const { port, dir } = await imServer(t, ['alice'], { files: { maxFileBytes: 1024 * 1024, quotaBytesPerUser: 1536 * 1024 } })
  const uploads = join(dir, 'data', 'files', 'uploads')
  const alice = await RawDevice.connect(t, port, 'alice', 'sensor')
  const data = randomBytes(600 * 1024)

  const start = await alice.request('file.start', { name: 'x.bin', size: data.length, type: 'application/octet-stream', sha256: sha256(randomBytes(8)) })
  await sendChunks(alice, start.uploadId, data, start.chunkBytes, [...Array(start.chunks).keys()])
  await t.rejects(alice.request('file.finish', { uploadId: start.uploadId }), { code: 'HAIL_ERR_FILE_HASH' })
  t.same(await readdir(uploads), [], 'a refused upload leaves no chunks')

  await t.rejects(alice.request('file.start', { name: 'big.bin', size: 1024 * 1024 + 1, type: 'x/y', sha256: sha256(data) }), { code: 'HAIL_ERR_TOO_LARGE' })
  t.same(await readdir(uploads), [], 'an oversized upload never starts')

  const good = await alice.request('file.start', { name: 'ok.bin', size: data.length, type: 'x/y', sha256: sha256(data) })
  await sendChunks(alice, good.uploadId, data, good.chunkBytes, [...Array(good.chunks).keys()])
  await alice.request('file.finish', { uploadId: good.uploadId })
  const other = randomBytes(1000 * 1024)
  await t.rejects(alice.request('file.start', { name: 'more.bin', size: other.length, type: 'x/y', sha256: sha256(other) }), { code: 'HAIL_ERR_QUOTA' })

  // A chunk of the wrong size, or for an upload that does not exist, is refused on the reply topic.
  const small = await alice.request('file.start', { name: 's.bin', size: 10, type: 'x/y', sha256: sha256(Buffer.alloc(10)) })
  await alice.client.publishAsync(`im/file/${small.uploadId}/0`, Buffer.alloc(11), { qos: 1 })
  await alice.client.publishAsync(`im/file/${'0'.repeat(32)}/0`, Buffer.alloc(10), { qos: 1 })
  await waitFor(() => alice.of('error').length === 2, 'two chunk refusals')
  const errors = alice.of('error')
  t.match(errors, [{ ref: small.uploadId, error: { code: 'HAIL_ERR_BAD_REQUEST' } }, { error: { code: 'HAIL_ERR_NOT_FOUND' } }])
  t.same((await alice.request('file.status', { uploadId: small.uploadId })).have, [])
})

t.test('a file message shares the file with the conversation; a stranger cannot share or reference it', async (t) => {
  const { server, port } = await imServer(t, ['alice', 'bob', 'carol'])
  const alice = await RawDevice.connect(t, port, 'alice', 'phone')
  const carol = await RawDevice.connect(t, port, 'carol', 'phone')
  const data = Buffer.from('hello file')
  const start = await alice.request('file.start', { name: 'a.txt', size: data.length, type: 'text/plain', sha256: sha256(data) })
  await alice.client.publishAsync(`im/file/${start.uploadId}/0`, data, { qos: 1 })
  const { fileId } = await alice.request('file.finish', { uploadId: start.uploadId })

  const body = { fileId, name: 'a.txt', size: data.length, type: 'text/plain' }
  t.match(await carol.send('d:bob:carol', body, 'c1', 'file'), { type: 'error', error: { code: 'HAIL_ERR_FORBIDDEN' } })
  t.match(await alice.send('d:alice:bob', { ...body, fileId: 'fnope' }, 'c2', 'file'), { type: 'error', error: { code: 'HAIL_ERR_NOT_FOUND' } })
  t.match(await alice.send('d:alice:bob', body, 'c3', 'file'), { type: 'sent' })
  t.same((await server.files.index.get(fileId))!.convs, ['d:alice:bob'])
})
