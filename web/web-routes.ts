import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { appFileRoutes } from './app-files.js'
import { dashboardRoutes } from './dashboard-api.js'
import type { WebRoute } from './http-reply.js'
import { sessionRoutes } from './session-api.js'
import type { WebHost } from './web-host.js'

export interface WebRoutesOptions {
  /** Where the built app is (index.html, assets/); default dist/web/public. */
  publicDir?: string
}

const here = dirname(fileURLToPath(import.meta.url))

/**
 * The web app (issue 16) as HTTP routes for the server's `routes` map: the
 * built page at `/`, `/call` and `/dashboard`, its hashed assets, the
 * favicon, sign-in (`/api/session`) and the admins' dashboard figures
 * (`/api/dashboard`). The page speaks MQTT over WebSocket at `/mqtt` and
 * uses `/files` for uploads and downloads, which the broker serves.
 */
export function webRoutes (host: WebHost, options: WebRoutesOptions = {}): Map<string, WebRoute> {
  return new Map([
    ...appFileRoutes(options.publicDir ?? defaultPublicDir()),
    ...sessionRoutes(host),
    ...dashboardRoutes(host)
  ])
}

/** dist/web/public: beside the compiled routes, or, when these run from their sources (tests), under dist/. */
function defaultPublicDir (): string {
  const beside = join(here, 'public')
  return existsSync(join(beside, 'index.html')) ? beside : join(here, '..', 'dist', 'web', 'public')
}
