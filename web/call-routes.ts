import { readdir, readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export type WebRoute = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>

export interface CallPageOptions {
  /** Where the page's own files are (call.html, call-app.js); default this repository's web/. */
  webDir?: string
  /** The compiled SDK (client/*.js); default dist/client next to this file's dist/web. */
  sdkDir?: string
  /** The compiled protocol (protocol/*.js) the SDK imports; default dist/protocol. */
  protocolDir?: string
  /** mqtt.js's browser ES module; default resolved from the mqtt package. */
  mqttModule?: string
}

const here = dirname(fileURLToPath(import.meta.url))
/** Module file names the page may load: compiled modules only, never a path. */
const MODULE_NAME = /^[a-z][a-z0-9-]*\.js$/

/**
 * The call page (`/call`) and what it loads, as HTTP routes for the
 * server's `routes` map. Files come from a fixed list read once: the page,
 * its script, the compiled SDK modules that exist in the SDK folder, and
 * mqtt.js's ES module; a request names one of them or gets 404, so no path
 * a client sends ever reaches the file system.
 */
export function callPageRoutes (options: CallPageOptions = {}): Map<string, WebRoute> {
  // dist/web/call-routes.js → the repository's web/ and dist/client/.
  const webDir = options.webDir ?? join(here, '..', '..', 'web')
  const sdkDir = options.sdkDir ?? join(here, '..', 'client')
  const protocolDir = options.protocolDir ?? join(here, '..', 'protocol')
  const routes = new Map<string, WebRoute>()
  routes.set('/call', serveFile(join(webDir, 'call.html'), 'text/html; charset=utf-8'))
  routes.set('/call/', serveFile(join(webDir, 'call.html'), 'text/html; charset=utf-8'))
  routes.set('/call/call-app.js', serveFile(join(webDir, 'call-app.js'), JS))
  routes.set('/call/call.css', serveFile(join(webDir, 'call.css'), 'text/css; charset=utf-8'))
  routes.set('/call/vendor/mqtt.esm.js', serveFile(options.mqttModule ?? mqttEsm(), JS))
  // The SDK's modules import ../protocol/*.js, which the browser asks for as /call/protocol/*.js.
  routes.set('/call/sdk/*', serveModules('/call/sdk/', sdkDir))
  routes.set('/call/protocol/*', serveModules('/call/protocol/', protocolDir))
  return routes
}

/** Compiled modules of one folder, by file name; the list is read once, so no path a client sends reaches the file system. */
function serveModules (prefix: string, dir: string): WebRoute {
  let names: Promise<Set<string>> | undefined
  return async (req, res) => {
    names ??= readdir(dir).then((all) => new Set(all.filter((n) => MODULE_NAME.test(n))), () => new Set())
    const name = pathOf(req).slice(prefix.length)
    if (!(await names).has(name)) return notFound(res)
    await serveFile(join(dir, name), JS)(req, res)
  }
}

const JS = 'text/javascript; charset=utf-8'

function serveFile (file: string | undefined, type: string): WebRoute {
  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n')
      return
    }
    let body: Buffer
    try {
      if (file === undefined) throw new Error('not installed')
      body = await readFile(file)
    } catch {
      return notFound(res)
    }
    res.writeHead(200, {
      'content-type': type,
      'content-length': body.length,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer'
    })
    res.end(req.method === 'HEAD' ? undefined : body)
  }
}

function notFound (res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
}

function pathOf (req: IncomingMessage): string {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

/** mqtt.js ships a browser ES module in dist/ (mqtt 5); undefined when mqtt is not installed. */
function mqttEsm (): string | undefined {
  try {
    const main = createRequire(import.meta.url).resolve('mqtt')
    // …/node_modules/mqtt/build/index.js → …/node_modules/mqtt/dist/mqtt.esm.js
    return join(dirname(main), '..', 'dist', 'mqtt.esm.js')
  } catch {
    return undefined
  }
}
