import type { CommandArgs, CommandResult, StoredFile } from './commands.js'
import { HailClientError, toClientError } from './errors.js'
import type { SendResult } from './options.js'

export interface FileInfo {
  name: string
  /** Media type; application/octet-stream when absent. */
  type?: string
}

export interface Progress {
  /** Bytes the server has (acknowledged chunks), of `total`. */
  sent: number
  total: number
}

export interface SendFileOptions {
  onProgress?: (progress: Progress) => void
  /** Chunks in flight at once (default 4). */
  window?: number
}

export interface SentFile {
  file: StoredFile
  message: SendResult
}

/** What the upload needs of the client. */
export interface UploadChannel {
  request: <M extends 'file.start' | 'file.finish'>(method: M, args: CommandArgs<M>) => Promise<CommandResult<M>>
  publishChunk: (topic: string, chunk: Uint8Array) => Promise<void>
}

/** sha256 of `data` as lowercase hex, with WebCrypto (Node 20 and browsers). */
export async function sha256Hex (data: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', data))
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('')
}

/**
 * Upload over MQTT (docs/protocol.md, "Files"): start (the server answers
 * which chunks it has, so calling this again after a failure resumes), the
 * missing chunks at QoS 1, finish. Resolves with the stored file.
 */
export async function uploadFile (channel: UploadChannel, data: Uint8Array, info: FileInfo, options: SendFileOptions = {}): Promise<StoredFile> {
  const sha256 = await sha256Hex(data)
  const started = await channel.request('file.start', { name: info.name, size: data.byteLength, type: info.type ?? 'application/octet-stream', sha256 })
  const { uploadId, chunkBytes, chunks } = started
  const have = new Set(started.have)
  const sizeOf = (i: number): number => Math.min(chunkBytes, data.byteLength - i * chunkBytes)
  let sent = started.have.reduce((sum, i) => sum + sizeOf(i), 0)
  options.onProgress?.({ sent, total: data.byteLength })
  const queue = [...Array(chunks).keys()].filter((i) => !have.has(i))
  const worker = async (): Promise<void> => {
    for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
      const chunk = data.subarray(i * chunkBytes, i * chunkBytes + sizeOf(i))
      try {
        await channel.publishChunk(`im/file/${uploadId}/${i}`, chunk)
      } catch (err) {
        throw toClientError(err, 'HAIL_ERR_PUBLISH', `chunk ${i} of upload ${uploadId}`)
      }
      sent += chunk.byteLength
      options.onProgress?.({ sent, total: data.byteLength })
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, options.window ?? 4) }, worker))
  return await channel.request('file.finish', { uploadId })
}

/** Where a file is served over HTTP: GET it with `Authorization: Bearer <token>` (Range works). */
export function fileUrl (httpBase: string, fileId: string): string {
  return `${httpBase.replace(/\/+$/, '')}/files/${encodeURIComponent(fileId)}`
}

/** Download a file over HTTP with a token; progress as the body streams in. */
export async function downloadFile (httpBase: string, fileId: string, token: string, options: { onProgress?: (progress: Progress) => void } = {}): Promise<Uint8Array> {
  const res = await fetch(fileUrl(httpBase, fileId), { headers: { authorization: `Bearer ${token}` } })
  if (!res.ok || res.body === null) {
    const detail = await res.json().catch(() => undefined) as { error?: { code?: string, message?: string } } | undefined
    const code = res.status === 401 ? 'HAIL_ERR_NOT_AUTHORIZED' : (detail?.error?.code ?? 'HAIL_ERR_DOWNLOAD')
    throw new HailClientError(code, detail?.error?.message ?? `GET ${fileId}: HTTP ${res.status}`)
  }
  const total = Number(res.headers.get('content-length') ?? 0)
  const parts: Uint8Array[] = []
  let received = 0
  const reader = res.body.getReader()
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    parts.push(r.value)
    received += r.value.byteLength
    options.onProgress?.({ sent: received, total })
  }
  const out = new Uint8Array(received)
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.byteLength }
  return out
}
