import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import fresh from 'fresh'
import { BASE_HEADERS, pathOf, type WebRoute } from './http-reply.js'

/**
 * The page's Content-Security-Policy: scripts, styles and fonts only from
 * this server's own files (no inline code; workers from blob:, which only
 * those scripts can make), images and media also from
 * blob: (downloaded files, thumbnails), network only to this origin (its
 * HTTP API and MQTT over WebSocket at /mqtt), never framed.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  // mqtt.js runs its keep-alive timer in a worker made from a blob, so pings go on in background tabs.
  'worker-src blob:',
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'"
].join('; ')

/** Paths the page itself answers (the app routes in the browser). */
export const APP_PATHS = ['/', '/index.html', '/call', '/call/', '/dashboard', '/dashboard/']

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json'
}

/** Built asset names carry a content hash (web/build.mjs): `app-4F2KXQ7A.js`. */
const HASHED = /^[A-Za-z0-9_-]+-[A-Z0-9]{8}\.(js|css|svg|png|woff2)$/

interface File {
  body: Buffer
  gzip: Buffer | undefined
  type: string
  /** Strong validator of the bytes as built; the gzip copy is another representation, so another tag. */
  etag: string
}

/**
 * The built app (web/build.mjs writes it to dist/web/public): index.html for
 * every app path, with `no-cache` (it names the current assets) and the CSP;
 * the assets under /assets/, hashed and `immutable`; the favicon. The files
 * are listed once, on the first request, and served from memory; a request
 * names one of them or gets 404, so no path a client sends reaches the file
 * system.
 */
export function appFileRoutes (publicDir: string): Map<string, WebRoute> {
  let loading: Promise<Map<string, File>> | undefined
  const files = async (): Promise<Map<string, File>> => {
    loading ??= load(publicDir).catch((err: unknown) => {
      loading = undefined
      throw err
    })
    return await loading
  }

  const page: WebRoute = async (req, res) => {
    const index = (await files().catch(() => new Map<string, File>())).get('index.html')
    if (index === undefined) {
      res.writeHead(503, { ...BASE_HEADERS, 'content-type': 'text/plain; charset=utf-8' })
      res.end('the web app is not built: run npm run build\n')
      return
    }
    send(req, res, index, { 'cache-control': 'no-cache', 'content-security-policy': CONTENT_SECURITY_POLICY, 'x-frame-options': 'DENY' })
  }

  const asset: WebRoute = async (req, res) => {
    const name = pathOf(req).slice('/assets/'.length)
    const file = HASHED.test(name) ? (await files().catch(() => new Map<string, File>())).get(`assets/${name}`) : undefined
    if (file === undefined) return notFound(res)
    send(req, res, file, { 'cache-control': 'public, max-age=31536000, immutable' })
  }

  const favicon: WebRoute = async (req, res) => {
    const file = (await files().catch(() => new Map<string, File>())).get('favicon.svg')
    if (file === undefined) return notFound(res)
    // Not hashed (browsers ask for it by a fixed name): a day, then revalidated.
    send(req, res, file, { 'cache-control': 'public, max-age=86400' })
  }

  const routes = new Map<string, WebRoute>()
  for (const path of APP_PATHS) routes.set(path, page)
  routes.set('/assets/*', asset)
  routes.set('/favicon.svg', favicon)
  // Browsers ask for /favicon.ico on their own; an SVG answers it (no 404 in the console).
  routes.set('/favicon.ico', favicon)
  return routes
}

async function load (dir: string): Promise<Map<string, File>> {
  const map = new Map<string, File>()
  const add = async (name: string): Promise<void> => {
    const dot = name.lastIndexOf('.')
    const type = name === 'index.html' ? 'text/html; charset=utf-8' : TYPES[name.slice(dot)]
    if (type === undefined) return
    const body = await readFile(join(dir, name))
    const gzip = await readFile(join(dir, `${name}.gz`)).catch(() => undefined)
    map.set(name, { body, gzip, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` })
  }
  await add('index.html')
  await add('favicon.svg')
  for (const name of await readdir(join(dir, 'assets')).catch(() => [] as string[])) {
    if (!name.endsWith('.gz')) await add(`assets/${name}`)
  }
  return map
}

function send (req: Parameters<WebRoute>[0], res: Parameters<WebRoute>[1], file: File, headers: Record<string, string>): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { ...BASE_HEADERS, allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n')
    return
  }
  // The build gzipped the big text files once; a client that takes gzip gets those bytes.
  const gzip = file.gzip !== undefined && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))
  const body = gzip ? file.gzip! : file.body
  const etag = gzip ? `${file.etag.slice(0, -1)}-gz"` : file.etag
  const common = { ...BASE_HEADERS, ...headers, etag, ...(file.gzip === undefined ? {} : { vary: 'accept-encoding' }) }
  // A browser revalidating index.html (no-cache) after a build that changed nothing gets 304 and no body
  // (RFC 9110 §13.1.2; only If-None-Match is given to `fresh`: see broker/files/file-routes.ts).
  const ifNoneMatch = req.headers['if-none-match']
  if (ifNoneMatch !== undefined && fresh({ 'if-none-match': ifNoneMatch }, { etag })) {
    res.writeHead(304, common).end()
    return
  }
  res.writeHead(200, {
    ...common,
    'content-type': file.type,
    'content-length': body.length,
    ...(gzip ? { 'content-encoding': 'gzip' } : {})
  })
  res.end(req.method === 'HEAD' ? undefined : body)
}

function notFound (res: Parameters<WebRoute>[1]): void {
  res.writeHead(404, { ...BASE_HEADERS, 'content-type': 'text/plain' }).end('not found\n')
}
