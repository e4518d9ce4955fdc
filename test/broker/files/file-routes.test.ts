import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { imServer, RawDevice } from '../../helpers/im-server.js'
import { parseRange } from '../../../broker/files/index.js'

t.test('parseRange() reads one RFC 9110 byte range and refuses what it cannot serve', async (t) => {
  t.same(parseRange('bytes=0-9', 100), { start: 0, end: 9 })
  t.same(parseRange('bytes=90-', 100), { start: 90, end: 99 })
  t.same(parseRange('bytes=-10', 100), { start: 90, end: 99 })
  t.same(parseRange('bytes=50-500', 100), { start: 50, end: 99 })
  t.equal(parseRange('bytes=100-', 100), undefined)
  t.equal(parseRange('bytes=9-3', 100), undefined)
  t.equal(parseRange('bytes=-0', 100), undefined)
  t.equal(parseRange('items=0-1', 100), undefined)
  t.equal(parseRange('bytes=0-1,5-6', 100), undefined)
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
  const stranger = await get(stored.fileId, carol)
  t.equal(stranger.status, 403, 'a stranger\'s token gets 403')
  await stranger.arrayBuffer()
})
