import t from 'tap'
import http from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer } from '../../index.js'

// The web app's HTTP side on a real server: the built page and its assets
// with their caching headers and CSP, sign-in, and the admins' figures.

const dir = await mkdtemp(join(tmpdir(), 'hail-web-routes-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const server = createServer({ dataDir: dir, host: '127.0.0.1', mqttPort: 0, httpPort: 0, files: { maxFileBytes: 12345 } })
const { http: bound } = await server.listen()
t.teardown(() => server.close())
await server.users.add('alice', 'alice-pw')
await server.users.add('root', 'root-pw', { admin: true })
const base = `http://127.0.0.1:${bound!.port}`

/** Sent byte for byte (fetch would normalise dots away before they reach the server). */
async function rawStatus (path: string): Promise<number> {
  return await new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: bound!.port, path }, (res) => { res.resume(); resolve(res.statusCode!) }).on('error', reject)
  })
}

async function signIn (user: string, password: string): Promise<Response> {
  return await fetch(`${base}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, password }) })
}

t.test('the page is served at /, /call and /dashboard, never cached stale, with a CSP', async (t) => {
  for (const path of ['/', '/call', '/dashboard']) {
    const res = await fetch(base + path)
    t.equal(res.status, 200, path)
    t.match(res.headers.get('content-type'), /^text\/html/)
    t.equal(res.headers.get('cache-control'), 'no-cache', `${path}: revalidated each time (it names the current assets)`)
    const csp = res.headers.get('content-security-policy') ?? ''
    t.match(csp, /default-src 'none'/)
    t.match(csp, /script-src 'self'(;|$)/, 'no inline or foreign scripts')
    t.match(csp, /frame-ancestors 'none'/)
    t.equal(res.headers.get('x-content-type-options'), 'nosniff')
    const html = await res.text()
    t.match(html, /<script type="module" src="\/assets\/app-[A-Z0-9]{8}\.js"><\/script>/)
    t.notMatch(html, /<script>|style=/, 'nothing inline')
  }
})

t.test('assets are hashed and immutable, gzipped for those who take it, and only they are served', async (t) => {
  const html = await (await fetch(base)).text()
  const js = /src="(\/assets\/app-[A-Z0-9]{8}\.js)"/.exec(html)![1]!
  const css = /href="(\/assets\/app-[A-Z0-9]{8}\.css)"/.exec(html)![1]!
  for (const path of [js, css]) {
    const res = await fetch(base + path)
    t.equal(res.status, 200, path)
    t.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable')
    t.equal(res.headers.get('content-encoding'), 'gzip', 'fetch asks for gzip: the prebuilt copy comes')
    t.ok((await res.text()).length > 1000)
  }
  t.match((await fetch(base + js)).headers.get('content-type'), /javascript/)
  const plain = await new Promise<{ encoding: string | undefined, length: number }>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: bound!.port, path: js }, (res) => {
      let length = 0
      res.on('data', (d: Buffer) => { length += d.length })
      res.on('end', () => resolve({ encoding: res.headers['content-encoding'], length }))
    }).on('error', reject)
  })
  t.equal(plain.encoding, undefined, 'a client without Accept-Encoding gets the plain file')
  t.ok(plain.length > 10_000)
  const icon = await fetch(`${base}/favicon.ico`)
  t.equal(icon.status, 200, 'the favicon browsers ask for on their own')
  t.match(icon.headers.get('content-type'), /image\/svg\+xml/)
  for (const path of ['/assets/app.js', '/assets/..%2f..%2fpackage.json', '/assets/../../package.json', '/assets/%2e%2e/index.html',
    '/assets/app-AAAAAAAA.js', `${js}.gz`, '/index.html.gz', '/assets/', '/web/build.mjs', '/call/sdk/index.js', '/package.json']) {
    t.equal(await rawStatus(path), 404, `${path} is not served`)
  }
})

t.test('the page and assets carry an ETag per representation, and a matching If-None-Match gets 304 with no body', async (t) => {
  const page = await fetch(base)
  const etag = page.headers.get('etag')
  t.match(etag, /^"[A-Za-z0-9_-]{22}(-gz)?"$/, 'a strong tag of the bytes')
  await page.text()
  const again = await fetch(base, { headers: { 'if-none-match': etag! } })
  t.equal(again.status, 304, 'index.html revalidated after a build that changed nothing')
  t.equal(again.headers.get('etag'), etag)
  t.equal(again.headers.get('cache-control'), 'no-cache')
  t.equal((await again.arrayBuffer()).byteLength, 0)
  const stale = await fetch(base, { headers: { 'if-none-match': '"AAAAAAAAAAAAAAAAAAAAAA"' } })
  t.equal(stale.status, 200, 'another tag gets the page')
  await stale.text()
  // The plain and gzip copies of one asset are two representations: two tags.
  const html = await (await fetch(base)).text()
  const js = /src="(\/assets\/app-[A-Z0-9]{8}\.js)"/.exec(html)![1]!
  const tags = await Promise.all([{ 'accept-encoding': 'gzip' }, { 'accept-encoding': 'identity' }].map(async (headers) => {
    const res = await fetch(base + js, { headers })
    await res.arrayBuffer()
    return res.headers.get('etag')
  }))
  t.not(tags[0], tags[1], 'gzip and identity differ')
  const cross = await fetch(base + js, { headers: { 'accept-encoding': 'identity', 'if-none-match': tags[0]! } })
  t.equal(cross.status, 200, 'the gzip tag does not validate the plain copy')
  await cross.arrayBuffer()
})

t.test('sign-in gives a token that expires, and says who it is; wrong passwords back off', async (t) => {
  const res = await signIn('alice', 'alice-pw')
  t.equal(res.status, 200)
  t.equal(res.headers.get('cache-control'), 'no-store')
  const body = await res.json() as { user: string, token: string, expires: number, admin: boolean, limits: { maxFileBytes: number } }
  t.match(body, { user: 'alice', admin: false, limits: { maxFileBytes: 12345 } })
  t.match(body.token, /^hail1\./)
  t.ok(body.expires > Date.now() + 3600_000 && body.expires <= Date.now() + 13 * 3600_000, 'expires within the day')
  const me = await fetch(`${base}/api/session`, { headers: { authorization: `Bearer ${body.token}` } })
  t.match(await me.json(), { user: 'alice', admin: false })
  const renewed = await fetch(`${base}/api/session/renew`, { method: 'POST', headers: { authorization: `Bearer ${body.token}` } })
  t.equal(renewed.status, 200)
  t.not((await renewed.json() as { token: string }).token, body.token, 'a fresh token')
  t.equal((await fetch(`${base}/api/session`)).status, 401, 'no token, nobody')
  t.equal((await fetch(`${base}/api/session`, { headers: { authorization: 'Bearer hail1.x.y' } })).status, 401)

  const wrong = await signIn('alice', 'nope')
  t.equal(wrong.status, 401)
  t.match(await wrong.json(), { error: { code: 'HAIL_ERR_NOT_AUTHORIZED', message: 'wrong user name or password' } })
  t.equal((await signIn('nobody', 'x')).status, 401, 'an unknown user looks the same')
  const form = await fetch(`${base}/api/session`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'user=alice&password=alice-pw' })
  t.equal(form.status, 415, 'a plain form from another site cannot sign in')
  // The server's login guard: after 5 failures the account waits (the same guard as MQTT CONNECT).
  for (let i = 0; i < 4; i++) await signIn('alice', 'nope')
  const blocked = await signIn('alice', 'alice-pw')
  t.equal(blocked.status, 429, 'even the right password waits its turn')
  t.ok(Number(blocked.headers.get('retry-after')) >= 1)
})

t.test('the dashboard\'s figures are for admins only, checked at every request', async (t) => {
  const token = async (user: string): Promise<string> => (await (await signIn(user, `${user}-pw`)).json() as { token: string }).token
  const root = await token('root')
  t.equal((await fetch(`${base}/api/dashboard`)).status, 401)
  const res = await fetch(`${base}/api/dashboard`, { headers: { authorization: `Bearer ${root}` } })
  t.equal(res.status, 200)
  const snap = await res.json() as { ts: number, figures: Record<string, unknown>, calls: unknown[] }
  t.match(snap.figures, { connections: Number, messagesIn: Number, messagesOut: Number, storeSyncs: Number, cpuSeconds: Number, residentBytes: Number })
  t.ok((snap.figures.residentBytes as number) > 0, 'real figures from the registry')
  t.same(snap.calls, [])
  await server.users.setAdmin('root', false)
  const after = await fetch(`${base}/api/dashboard`, { headers: { authorization: `Bearer ${root}` } })
  t.equal(after.status, 403, 'the same token, once the flag is off')
  t.match(await after.json(), { error: { code: 'HAIL_ERR_FORBIDDEN' } })
})
