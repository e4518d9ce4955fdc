import type { IncomingMessage, ServerResponse } from 'node:http'
import { pipeline } from 'node:stream/promises'
import fresh from 'fresh'
import parseRanges from 'range-parser'
import type { Logger } from 'pino'
import { ImError } from '../errors.js'
import type { HttpRoute } from '../listeners/http-listener.js'
import type { TokenService } from '../users/tokens.js'
import type { FileMeta } from './file-index.js'
import type { FileStore } from './file-store.js'

/** Who is in which conversation (the IM engine's membership mirror): a reader may download files shared in theirs. */
export interface Members {
  role: (conv: string, user: string) => unknown
}

export interface FileRoutesOptions {
  files: FileStore
  tokens: TokenService
  membership: Members
  logger: Logger
}

const FILE_ID = /^f[0-9a-f]{24}$/

const STATUS: Partial<Record<string, number>> = {
  HAIL_ERR_BAD_REQUEST: 400,
  HAIL_ERR_TOO_LARGE: 413,
  HAIL_ERR_QUOTA: 507
}

/**
 * `POST /files` (raw body) and `GET /files/{fileId}` (with Range), for
 * browsers and apps; `Authorization: Bearer <token>` as from `hail token`.
 * Bodies are streamed both ways, never held whole in memory.
 */
export function fileRoutes (options: FileRoutesOptions): Map<string, HttpRoute> {
  const { files, tokens, membership, logger } = options

  // An upload refused before its body is read closes the connection rather than draining the body.
  const user = async (req: IncomingMessage, res: ServerResponse): Promise<string | undefined> => {
    const header = req.headers.authorization ?? ''
    const match = /^Bearer\s+(\S+)$/i.exec(header)
    const check = match === null ? undefined : await tokens.verify(match[1]!)
    if (check?.ok === true) return check.claims.sub
    fail(res, 401, 'HAIL_ERR_NOT_AUTHORIZED', 'send Authorization: Bearer <token> (hail token USER)', { 'www-authenticate': 'Bearer', ...(req.method === 'POST' ? { connection: 'close' } : {}) })
    return undefined
  }

  const upload: HttpRoute = async (req, res) => {
    if (req.method !== 'POST') return fail(res, 405, 'HAIL_ERR_BAD_REQUEST', 'POST a file here', { allow: 'POST', connection: 'close' })
    const owner = await user(req, res)
    if (owner === undefined) return
    const name = fileName(req.headers['x-file-name'])
    const type = (req.headers['content-type'] ?? 'application/octet-stream').slice(0, 255)
    const length = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length'])
    try {
      const meta = await files.upload(owner, req, { name, type, length })
      json(res, 201, { fileId: meta.fileId, sha256: meta.sha256, size: meta.size, name: meta.name, type: meta.type })
    } catch (err) {
      if (!(err instanceof ImError)) throw err
      // The rest of the body is not read: close the connection after the answer.
      fail(res, STATUS[err.code] ?? 400, err.code, err.message, { connection: 'close' })
    }
  }

  const download: HttpRoute = async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return fail(res, 405, 'HAIL_ERR_BAD_REQUEST', 'GET a file here', { allow: 'GET, HEAD' })
    const reader = await user(req, res)
    if (reader === undefined) return
    const fileId = (req.url ?? '').split('?')[0]!.slice('/files/'.length)
    const meta = FILE_ID.test(fileId) ? await files.index.get(fileId) : undefined
    if (meta === undefined) return fail(res, 404, 'HAIL_ERR_NOT_FOUND', `no file ${fileId}`)
    if (!mayRead(meta, reader, membership)) return fail(res, 403, 'HAIL_ERR_FORBIDDEN', `file ${fileId} was not shared in a conversation of yours`)
    // A file's bytes never change under its id: its hash is a strong validator.
    const etag = `"${meta.sha256}"`
    // RFC 9110 §13.1.2: the client's copy is current. Only If-None-Match is given to `fresh` (which
    // reads its list, * and weak tags): its reading of a request's Cache-Control: no-cache is a
    // cache's rule (RFC 9111), and fetch() adds that header to every conditional request.
    if (req.headers['if-none-match'] !== undefined && fresh({ 'if-none-match': req.headers['if-none-match'] }, { etag })) {
      res.writeHead(304, { etag })
      res.end()
      return
    }
    const headers: Record<string, string | number> = {
      'content-type': meta.type === '' ? 'application/octet-stream' : meta.type,
      'accept-ranges': 'bytes',
      etag,
      'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(meta.name)}`,
      'x-content-type-options': 'nosniff'
    }
    let range: { start: number, end: number } | undefined
    // §13.1.5: a Range under an If-Range that names another version (or a date: none is sent) gets the whole file.
    const ifRange = req.headers['if-range']
    if (req.headers.range !== undefined && (ifRange === undefined || ifRange === etag)) {
      const wanted = parseRange(req.headers.range, meta.size)
      if (wanted === 'unsatisfiable') {
        res.writeHead(416, { 'content-range': `bytes */${meta.size}`, 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: { code: 'HAIL_ERR_BAD_REQUEST', message: `range ${req.headers.range} is not within 0-${meta.size - 1}` } }) + '\n')
        return
      }
      range = wanted
    }
    if (range !== undefined) headers['content-range'] = `bytes ${range.start}-${range.end}/${meta.size}`
    headers['content-length'] = range === undefined ? meta.size : range.end - range.start + 1
    res.writeHead(range === undefined ? 200 : 206, headers)
    if (req.method === 'HEAD' || meta.size === 0) {
      res.end()
      return
    }
    try {
      await pipeline(files.blobs.read(meta.sha256, range), res)
    } catch (err) {
      logger.debug({ err, fileId }, 'file download ended early')
      res.destroy()
    }
  }

  return new Map([['/files', upload], ['/files/*', download]])
}

/** The owner, and members of a conversation where the file was shared. */
export function mayRead (meta: FileMeta, user: string, membership: Members): boolean {
  return meta.owner === user || meta.convs.some((conv) => membership.role(conv, user) !== undefined)
}

/**
 * The byte range a Range header asks of a file of `size` bytes, parsed by
 * range-parser (jshttp, as express and send use): one range, clamped to the
 * file (RFC 9110 §14.1.2); 'unsatisfiable' (416) when no range overlaps the
 * file; undefined when the header is to be ignored and the whole file sent:
 * malformed, another unit than bytes (§14.2: MUST ignore), or several
 * ranges left apart after merging (a multipart answer is not served; §14.2
 * lets a server ignore Range).
 */
export function parseRange (header: string, size: number): { start: number, end: number } | 'unsatisfiable' | undefined {
  const ranges = parseRanges(size, header, { combine: true })
  if (ranges === -1) return 'unsatisfiable'
  if (ranges === -2 || ranges.type !== 'bytes' || ranges.length !== 1) return undefined
  return { start: ranges[0]!.start, end: ranges[0]!.end }
}

function fileName (header: string | string[] | undefined): string {
  const raw = Array.isArray(header) ? header[0] : header
  let name = raw ?? 'file'
  try {
    name = decodeURIComponent(name)
  } catch {}
  name = name.replace(/[\x00-\x1f\x7f/\\]/g, '_').trim().slice(0, 255)
  return name === '' ? 'file' : name
}

function json (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body) + '\n')
}

function fail (res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  json(res, status, { error: { code, message } }, headers)
}
