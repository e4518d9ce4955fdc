import type { StoredFile } from 'hail/client'
import { size } from '../text/size-text.js'

export class UploadError extends Error {
  readonly code: string
  constructor (code: string, message: string) {
    super(message)
    this.code = code
  }
}

/**
 * `POST /files` (docs/protocol.md, "Files"): the browser streams the file and
 * reports the bytes it has sent, which the page shows as a progress bar.
 * XMLHttpRequest, because fetch() reports no upload progress.
 */
export function uploadFile (file: File, token: string, onProgress: (fraction: number) => void): Promise<StoredFile> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('POST', '/files')
    xhr.setRequestHeader('authorization', `Bearer ${token}`)
    xhr.setRequestHeader('x-file-name', encodeURIComponent(file.name))
    xhr.setRequestHeader('content-type', file.type === '' ? 'application/octet-stream' : file.type)
    xhr.responseType = 'json'
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total) }
    xhr.onload = () => {
      const body = xhr.response as (StoredFile & { error?: { code: string, message: string } }) | null
      if (xhr.status === 201 && body !== null) return resolve(body)
      if (xhr.status === 413) return reject(new UploadError('HAIL_ERR_TOO_LARGE', `${file.name} is too big for this server`))
      reject(new UploadError(body?.error?.code ?? `HTTP_${xhr.status}`, body?.error?.message ?? `the upload failed (${xhr.status})`))
    }
    // The server closes the connection on a refused upload; the browser may see only that.
    xhr.onerror = () => reject(new UploadError('HAIL_ERR_UPLOAD', `${file.name} could not be sent (the connection closed)`))
    xhr.send(file)
  })
}

/** The refusal shown before anything is sent, when the server's limit is known. */
export function tooBig (file: File, maxBytes: number): string | undefined {
  if (file.size <= maxBytes) return undefined
  // Rounded sizes can read the same (300 KB over a 300 KB limit): then say the bytes.
  const [mine, limit] = size(file.size) === size(maxBytes)
    ? [`${file.size.toLocaleString()} bytes`, `${maxBytes.toLocaleString()} bytes`]
    : [size(file.size), size(maxBytes)]
  return `${file.name} is ${mine}: this server takes files up to ${limit}`
}

const blobs = new Map<string, Promise<string>>()

/** A file a member may read, as an object URL for <img> and downloads (GET needs the bearer token). */
export function fileObjectUrl (fileId: string, token: string): Promise<string> {
  let url = blobs.get(fileId)
  if (url === undefined) {
    url = fetch(`/files/${encodeURIComponent(fileId)}`, { headers: { authorization: `Bearer ${token}` } }).then(async (res) => {
      if (!res.ok) throw new UploadError(`HTTP_${res.status}`, `the file could not be loaded (${res.status})`)
      return URL.createObjectURL(await res.blob())
    })
    url.catch(() => blobs.delete(fileId))
    blobs.set(fileId, url)
  }
  return url
}

/** Saves a file as the browser saves downloads. */
export async function download (fileId: string, name: string, token: string): Promise<void> {
  const url = await fileObjectUrl(fileId, token)
  const a = document.createElement('a')
  a.href = url
  a.download = name
  document.body.append(a)
  a.click()
  a.remove()
}
