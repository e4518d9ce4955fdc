import type { IncomingMessage, ServerResponse } from 'node:http'

export type WebRoute = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>

/** Headers every answer of the app carries: no type sniffing, no referrer leaking conversation ids. */
export const BASE_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer'
}

/** A JSON answer that no cache keeps (it is about one signed-in user). */
export function json (res: ServerResponse, status: number, body: unknown, headers: Record<string, string | number> = {}): void {
  const text = JSON.stringify(body) + '\n'
  res.writeHead(status, {
    ...BASE_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers
  })
  res.end(text)
}

/** An error as the file routes answer them: `{ error: { code, message } }`. */
export function fail (res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string | number> = {}): void {
  json(res, status, { error: { code, message } }, headers)
}

/** The path of a request without its query. */
export function pathOf (req: IncomingMessage): string {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

/** The token of `Authorization: Bearer <token>`, or undefined. */
export function bearerToken (req: IncomingMessage): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')
  return match === null ? undefined : match[1]
}

/**
 * A small JSON request body, at most `limit` bytes: undefined (after a 4xx
 * answer) when it is too big, not JSON, or not sent as application/json.
 * Requiring the JSON media type also keeps other sites' plain HTML forms out:
 * a cross-origin request with it needs a CORS preflight that this server
 * never grants.
 */
export async function readJson (req: IncomingMessage, res: ServerResponse, limit: number): Promise<unknown> {
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
    fail(res, 415, 'HAIL_ERR_BAD_REQUEST', 'send application/json', { connection: 'close' })
    return undefined
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) {
      fail(res, 413, 'HAIL_ERR_TOO_LARGE', `a request body here is at most ${limit} bytes`, { connection: 'close' })
      return undefined
    }
    chunks.push(chunk)
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    fail(res, 400, 'HAIL_ERR_BAD_REQUEST', 'the body is not JSON')
    return undefined
  }
}
