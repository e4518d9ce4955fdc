import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import t, { type Test } from 'tap'
import mqtt from 'mqtt'
import { HailServer, AdminServer, withShortSocketPath } from '../../../broker/index.js'
import { TokenService } from '../../../broker/users/tokens.js'
import { tempUserStore } from '../users/store-fixture.js'

async function tempDir (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hail-admin-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

async function adminServer (t: Test): Promise<{ admin: AdminServer, path: string, tokens: TokenService }> {
  const users = await tempUserStore(t)
  const tokens = new TokenService(users)
  const path = join(await tempDir(t), 'admin.sock')
  const admin = new AdminServer({ path, users, tokens })
  await admin.listen()
  t.teardown(() => admin.close())
  return { admin, path, tokens }
}

/** A line-by-line conversation with the socket. */
async function session (t: Test, path: string): Promise<{ ask: (line: string) => Promise<any>, socket: Socket }> {
  const socket = connect(path)
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  t.teardown(() => { socket.destroy() })
  const lines = createInterface({ input: socket })[Symbol.asyncIterator]()
  return {
    socket,
    ask: async (line) => {
      socket.write(line + '\n')
      const { value } = await lines.next()
      return JSON.parse(value as string)
    }
  }
}

const request = (id: number | string, op: string, args?: object): string => JSON.stringify({ id, op, args })

t.test('each op is answered on its line with the request id and its result', async (t) => {
  const { path, tokens } = await adminServer(t)
  const { ask } = await session(t, path)
  const added = await ask(request(1, 'user.add', { name: 'alice', password: 'pw' }))
  t.match(added, { id: 1, ok: true, result: { name: 'alice', created: Number, admin: false } })
  t.same(Object.keys(added.result).sort(), ['admin', 'created', 'name'], 'no stamp, no hash')
  t.match(await ask(request('two', 'user.add', { name: 'bob', password: 'pw' })), { id: 'two', ok: true })
  t.match(await ask(request(3, 'user.list')), { id: 3, ok: true, result: [{ name: 'alice' }, { name: 'bob' }] })
  t.same(await ask(request(4, 'user.passwd', { name: 'alice', password: 'new' })), { id: 4, ok: true, result: { name: 'alice' } })
  const issued = await ask(request(5, 'token.issue', { user: 'alice', ttlSeconds: 60 }))
  t.match(issued, { id: 5, ok: true, result: { token: /^hail1\./, expires: Number } })
  t.match(await tokens.verify(issued.result.token as string), { ok: true, claims: { sub: 'alice' } })
  t.same(await ask(request(6, 'user.del', { name: 'bob' })), { id: 6, ok: true, result: { name: 'bob' } })
  t.match(await ask(request(7, 'user.list')), { result: [{ name: 'alice' }] })
})

t.test('a refused op answers with the store\'s error code and message, and the connection carries on', async (t) => {
  const { path } = await adminServer(t)
  const { ask } = await session(t, path)
  await ask(request(1, 'user.add', { name: 'alice', password: 'pw' }))
  t.same(await ask(request(2, 'user.add', { name: 'alice', password: 'pw' })),
    { id: 2, ok: false, error: { code: 'HAIL_ERR_USER_EXISTS', message: "user 'alice' already exists" } })
  t.match(await ask(request(3, 'user.del', { name: 'zed' })), { id: 3, ok: false, error: { code: 'HAIL_ERR_NO_USER' } })
  t.match(await ask(request(4, 'user.add', { name: 'Zed', password: 'pw' })), { id: 4, ok: false, error: { code: 'HAIL_ERR_BAD_NAME' } })
  t.match(await ask(request(5, 'user.add', { name: 'zed', password: '' })), { id: 5, ok: false, error: { code: 'HAIL_ERR_BAD_PASSWORD' } })
  t.match(await ask(request(6, 'token.issue', { user: 'alice', ttlSeconds: 0 })), { id: 6, ok: false, error: { code: 'HAIL_ERR_BAD_TTL' } })
  t.match(await ask(request(7, 'user.drop', {})), { id: 7, ok: false, error: { code: 'HAIL_ERR_ADMIN', message: /unknown op 'user.drop'/ } })
  t.match(await ask(request(8, 'user.add', { name: 'zed' })), { id: 8, ok: false, error: { code: 'HAIL_ERR_ADMIN', message: /password/ } })
  t.match(await ask(request(9, 'user.list', { extra: 1 })), { id: 9, ok: false, error: { code: 'HAIL_ERR_ADMIN', message: /extra/ } })
  t.match(await ask('not json'), { id: null, ok: false, error: { code: 'HAIL_ERR_ADMIN' } })
  t.match(await ask('{"op":"user.list"}'), { id: null, ok: false, error: { code: 'HAIL_ERR_ADMIN' } }, 'a request without an id')
  t.match(await ask(request(10, 'user.list')), { id: 10, ok: true, result: [{ name: 'alice' }] }, 'still answering')
})

t.test('requests sent together are answered in order', async (t) => {
  const { path } = await adminServer(t)
  const socket = connect(path)
  t.teardown(() => { socket.destroy() })
  socket.write([request(1, 'user.add', { name: 'a', password: 'pw' }), request(2, 'user.add', { name: 'a', password: 'pw' }), request(3, 'user.list')].join('\n') + '\n')
  const answers = []
  for await (const line of createInterface({ input: socket })) {
    answers.push(JSON.parse(line))
    if (answers.length === 3) break
  }
  t.match(answers, [{ id: 1, ok: true }, { id: 2, ok: false }, { id: 3, ok: true, result: [{ name: 'a' }] }])
})

t.test('the socket is mode 0600; close() drops its connections and removes the file', async (t) => {
  const { admin, path } = await adminServer(t)
  t.equal((await stat(path)).mode & 0o777, 0o600)
  const { socket } = await session(t, path)
  const closed = new Promise((resolve) => socket.once('close', resolve))
  await admin.close()
  await closed
  await t.rejects(stat(path), { code: 'ENOENT' })
  await admin.close() // twice is fine
})

t.test('a stale socket file left by a killed server is replaced; any other file there stops listen()', async (t) => {
  const users = await tempUserStore(t)
  const dir = await tempDir(t)
  const path = join(dir, 'admin.sock')
  // What a killed server leaves: a socket file nobody listens on.
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] })
  await once(child.stdout!, 'data')
  child.kill('SIGKILL')
  await once(child, 'exit')
  t.ok((await stat(path)).isSocket(), 'a stale socket file is there')
  await t.rejects(new Promise((resolve, reject) => connect(path).once('connect', resolve).once('error', reject)), { code: 'ECONNREFUSED' }, 'and nobody answers on it')
  const admin = new AdminServer({ path, users, tokens: new TokenService(users) })
  await admin.listen()
  const { ask } = await session(t, path)
  t.match(await ask(request(1, 'user.list')), { ok: true })
  await admin.close()

  const file = join(dir, 'not-a-socket')
  await writeFile(file, 'data')
  await t.rejects(new AdminServer({ path: file, users, tokens: new TokenService(users) }).listen(), { code: 'HAIL_ERR_LISTEN', message: /not a socket/ })
})

t.test('a server opens <dataDir>/admin.sock, deleting a user there disconnects its clients, and close() removes it', async (t) => {
  const dir = await tempDir(t)
  const server = new HailServer({ dataDir: dir, host: '127.0.0.1', mqttPort: 0, httpPort: null })
  const { mqtt: bound } = await server.listen()
  t.teardown(() => server.close())
  t.equal((await stat(dir)).mode & 0o777, 0o700, 'a data directory the server creates is private')
  const path = join(dir, 'admin.sock')
  const { ask } = await session(t, path)
  t.match(await ask(request(1, 'user.add', { name: 'alice', password: 'pw' })), { ok: true })
  t.match(await ask(request(2, 'user.add', { name: 'bob', password: 'pw' })), { ok: true })
  const url = `mqtt://127.0.0.1:${bound!.port}`
  const alice = await mqtt.connectAsync(url, { clientId: 'alice/phone', username: 'alice', password: 'pw', reconnectPeriod: 0 })
  const bob = await mqtt.connectAsync(url, { clientId: 'bob/phone', username: 'bob', password: 'pw', reconnectPeriod: 0 })
  const aliceClosed = new Promise((resolve) => alice.once('close', resolve))
  t.match(await ask(request(3, 'user.del', { name: 'alice' })), { ok: true })
  await aliceClosed
  await bob.publishAsync('probe', 'x', { qos: 1 })
  t.ok(bob.connected, 'bob stays connected')
  await server.close()
  await Promise.all([alice.endAsync(true), bob.endAsync(true)])
  await t.rejects(stat(path), { code: 'ENOENT' })
})

t.test('a data directory deeper than a socket path may be still gets its admin socket, reached through withShortSocketPath()', async (t) => {
  const users = await tempUserStore(t)
  const deep = join(await tempDir(t), 'x'.repeat(60), 'y'.repeat(60))
  await mkdir(deep, { recursive: true })
  const path = join(deep, 'admin.sock')
  t.ok(Buffer.byteLength(path) > 107)
  const admin = new AdminServer({ path, users, tokens: new TokenService(users) })
  await admin.listen()
  t.teardown(() => admin.close())
  t.equal((await stat(path)).mode & 0o777, 0o600, 'the socket is where it belongs, private')
  const socket = await withShortSocketPath(path, (usable) => new Promise<Socket>((resolve, reject) => {
    const s = connect(usable).once('connect', () => resolve(s)).once('error', reject)
  }))
  t.teardown(() => { socket.destroy() })
  socket.write(request(1, 'user.list') + '\n')
  const [line] = await once(createInterface({ input: socket }), 'line') as [string]
  t.same(JSON.parse(line), { id: 1, ok: true, result: [] })
  await admin.close()
  await t.rejects(stat(path), { code: 'ENOENT' }, 'close() removes it')
})
