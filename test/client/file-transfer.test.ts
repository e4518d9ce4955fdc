import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { HailClient, downloadFile, fileUrl, sha256Hex, type Progress } from '../../client/index.js'
import { imServer, PASSWORD } from '../helpers/im-server.js'
import { waitFor } from '../helpers/wait-for.js'

t.test('sha256Hex() agrees with node:crypto', async (t) => {
  const data = randomBytes(1000)
  t.equal(await sha256Hex(data), createHash('sha256').update(data).digest('hex'))
})

t.test('client.sendFile() uploads in chunks with progress and sends a file message; downloadFile() gets it back over HTTP', async (t) => {
  const { server, port, httpPort } = await imServer(t, ['alice', 'bob'])
  const url = `mqtt://127.0.0.1:${port}`
  const alice = await HailClient.connect({ url, user: 'alice', device: 'laptop', password: PASSWORD })
  const bob = await HailClient.connect({ url, user: 'bob', device: 'phone', password: PASSWORD })
  t.teardown(async () => { await alice.close(); await bob.close() })
  const seen: Array<{ kind: string, body: any }> = []
  bob.on('message', (m) => seen.push(m))

  const data = randomBytes(1024 * 1024 + 123)
  const progress: Progress[] = []
  const { file, message } = await alice.sendFile('d:alice:bob', data, { name: 'notes.bin' }, { onProgress: (p) => progress.push(p) })
  t.match(file, { fileId: /^f/, size: data.length, name: 'notes.bin', type: 'application/octet-stream' })
  t.match(message, { seq: 1, duplicate: false })
  t.same(progress.at(-1), { sent: data.length, total: data.length })
  t.ok(progress.length > 2, 'progress is told per chunk')
  await waitFor(() => seen.length === 1, 'bob gets the file message')
  t.match(seen[0], { kind: 'file', body: { fileId: file.fileId, size: data.length } })

  const base = `http://127.0.0.1:${httpPort}`
  t.equal(fileUrl(base + '/', file.fileId), `${base}/files/${file.fileId}`)
  const { token } = await server.tokens.issue('bob', 60)
  const got = await downloadFile(base, file.fileId, token)
  t.ok(Buffer.from(got).equals(data), 'bob downloads what alice sent')
  await t.rejects(downloadFile(base, file.fileId, 'hail1.bad'), { code: 'HAIL_ERR_NOT_AUTHORIZED' })
})
