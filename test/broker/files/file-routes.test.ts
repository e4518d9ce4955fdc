import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { imServer, RawDevice } from '../../helpers/im-server.js'
import { parseRange } from '../../../broker/files/index.js'

t.test('parseRange() reads one RFC 9110 byte range, refuses one outside the file, and ignores what it does not serve', async (t) => {
  t.same(parseRange('bytes=0-9', 100), { start: 0, end: 9 })
  t.same(parseRange('bytes=90-', 100), { start: 90, end: 99 })
  t.same(parseRange('bytes=-10', 100), { start: 90, end: 99 })
  t.same(parseRange('bytes=50-500', 100), { start: 50, end: 99 })
  t.same(parseRange('bytes=0-4,5-9', 100), { start: 0, end: 9 }, 'adjacent ranges are merged into one')
  t.equal(parseRange('bytes=100-', 100), 'unsatisfiable')
  t.equal(parseRange('bytes=9-3', 100), 'unsatisfiable')
  t.equal(parseRange('bytes=-0', 100), 'unsatisfiable')
  t.equal(parseRange('bytes=0-', 0), 'unsatisfiable', 'nothing of an empty file')
  t.equal(parseRange('items=0-1', 100), undefined, 'another unit is ignored (RFC 9110 §14.2: MUST), not refused')
  t.equal(parseRange('bytes=0-1,5-6', 100), undefined, 'ranges apart would need a multipart answer: ignored')
  t.equal(parseRange('0-1', 100), undefined, 'no unit: malformed, ignored')
})

t.test('HTTP upload and ranged download with tokens: 401 without, 403 for a stranger, 404 for an unknown file', async (t) => {
  const { server, dir, port, httpPort } = await imServer(t, ['alice', 'bob', 'carol'], { files: { maxFileBytes: 4 * 1024 * 1024 } })
  const base = `http://127.0.0.1:${httpPort}`
  const token = async (user: string): Promise<string> => (await server.tokens.issue(user, 600)).token
  const [alice, bob, carol] = [await token('alice'), await token('bob'), await token('carol')]
  const data = randomBytes(3 * 1024 * 1024)

  const noToken = await fetch(`${base}/files`, { method: 'POST', body: data })
  t.equal(noToken.status, 401)
  await noToken.arrayBuffer()

  const up = await fetch(`${base}/files`, { method: 'POST', body: data, headers: { authorization: `Bearer ${alice}`, 'x-file-name': encodeURIComponent('photo é.jpg'), 'content-type': 'image/jpeg' } })
  t.equal(up.status, 201)
  const stored = await up.json() as { fileId: string, sha256: string, size: number }
  t.match(stored, { fileId: /^f[0-9a-f]{24}$/, sha256: createHash('sha256').update(data).digest('hex'), size: data.length, name: 'photo é.jpg', type: 'image/jpeg' })

  const tooBig = await fetch(`${base}/files`, { method: 'POST', body: randomBytes(4 * 1024 * 1024 + 1), headers: { authorization: `Bearer ${alice}` } })
  t.equal(tooBig.status, 413)
  t.match(await tooBig.json(), { error: { code: 'HAIL_ERR_TOO_LARGE' } })
  t.same(await readdir(join(dir, 'data', 'files', 'uploads')), [], 'a refused upload leaves nothing')

  const get = (fileId: string, tok?: string, range?: string): Promise<Response> => fetch(`${base}/files/${fileId}`, {
    headers: { ...(tok === undefined ? {} : { authorization: `Bearer ${tok}` }), ...(range === undefined ? {} : { range }) }
  })
  const own = await get(stored.fileId, alice)
  t.equal(own.status, 200)
  t.equal(own.headers.get('content-type'), 'image/jpeg')
  t.ok(Buffer.from(await own.arrayBuffer()).equals(data), 'the owner gets the bytes back')

  const beforeShare = await get(stored.fileId, bob)
  t.equal(beforeShare.status, 403, 'not shared yet')
  await beforeShare.arrayBuffer()
  const unauth = await get(stored.fileId)
  t.equal(unauth.status, 401)
  await unauth.arrayBuffer()
  const unknown = await get('f' + '0'.repeat(24), alice)
  t.equal(unknown.status, 404)
  await unknown.arrayBuffer()

  const device = await RawDevice.connect(t, port, 'alice', 'phone')
  t.match(await device.send('d:alice:bob', { fileId: stored.fileId, name: 'photo é.jpg', size: data.length, type: 'image/jpeg' }, 'f1', 'file'), { type: 'sent' })

  const part = await get(stored.fileId, bob, 'bytes=1000-1999')
  t.equal(part.status, 206)
  t.equal(part.headers.get('content-range'), `bytes 1000-1999/${data.length}`)
  t.ok(Buffer.from(await part.arrayBuffer()).equals(data.subarray(1000, 2000)), 'a member of the conversation gets the range')
  const tail = await get(stored.fileId, bob, 'bytes=-10')
  t.ok(Buffer.from(await tail.arrayBuffer()).equals(data.subarray(data.length - 10)))
  const bad = await get(stored.fileId, bob, `bytes=${data.length}-`)
  t.equal(bad.status, 416)
  t.equal(bad.headers.get('content-range'), `bytes */${data.length}`)
  await bad.arrayBuffer()
  const etag = `"${stored.sha256}"`
  t.equal(part.headers.get('etag'), etag, 'the ETag is the content hash')
  const whole = await get(stored.fileId, bob, 'items=0-9')
  t.equal(whole.status, 200, 'a Range in another unit is ignored: the whole file')
  t.equal(Number(whole.headers.get('content-length')), data.length)
  await whole.arrayBuffer()

  const conditional = (headers: Record<string, string>): Promise<Response> => fetch(`${base}/files/${stored.fileId}`, { headers: { authorization: `Bearer ${bob}`, ...headers } })
  const current = await conditional({ 'if-none-match': etag })
  t.equal(current.status, 304, 'If-None-Match with the ETag: not modified')
  t.equal(current.headers.get('etag'), etag)
  t.equal((await current.arrayBuffer()).byteLength, 0, 'and no body')
  const other = await conditional({ 'if-none-match': '"0000"' })
  t.equal(other.status, 200, 'another ETag gets the file')
  await other.arrayBuffer()
  const strangerConditional = await fetch(`${base}/files/${stored.fileId}`, { headers: { authorization: `Bearer ${carol}`, 'if-none-match': etag } })
  t.equal(strangerConditional.status, 403, 'a stranger learns nothing from a conditional request')
  await strangerConditional.arrayBuffer()
  const resumed = await conditional({ range: 'bytes=10-19', 'if-range': etag })
  t.equal(resumed.status, 206, 'If-Range naming this version: the range')
  t.ok(Buffer.from(await resumed.arrayBuffer()).equals(data.subarray(10, 20)))
  const changed = await conditional({ range: 'bytes=10-19', 'if-range': '"another"' })
  t.equal(changed.status, 200, 'If-Range naming another version: the whole file')
  t.equal(Number(changed.headers.get('content-length')), data.length)
  await changed.arrayBuffer()

  const stranger = await get(stored.fileId, carol)
  t.equal(stranger.status, 403, 'a stranger\'s token gets 403')
  await stranger.arrayBuffer()
})
