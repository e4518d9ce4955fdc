import { useEffect, useRef, useState } from 'preact/hooks'
import type { ShownMessage } from '../chat/conversation-state.js'
import { download, fileObjectUrl } from '../chat/file-upload.js'
import { useStores } from './app-context.js'
import { Attach, Download } from './icons.js'
import { fileLine } from './message-text.js'

interface FileBody { fileId: string, name: string, size: number, type: string }

/**
 * A file message: images as an inline thumbnail (loaded when it scrolls into
 * view), other files as a card with a download button; while this device
 * sends one, its progress.
 */
export function FileCard ({ message: m }: { message: ShownMessage, conv: string }) {
  const { session } = useStores()
  const body = m.body as FileBody
  const image = body.type.startsWith('image/')
  const sending = m.pending?.state === 'sending'
  const progress = m.pending?.progress

  if (m.pending !== undefined) {
    return (
      <div class='file-card'>
        <Attach />
        <div class='file-text'>
          <span class='file-name'>{body.name}</span>
          {sending && progress !== undefined && (
            <progress class='upload' max={1} value={progress} aria-label={`Sending ${body.name}`}>{Math.round(progress * 100)}%</progress>
          )}
          {!sending && <span class='muted small'>{fileLine(body)}</span>}
        </div>
      </div>
    )
  }
  if (image) return <Thumbnail body={body} token={session.token} />
  return (
    <div class='file-card'>
      <Attach />
      <div class='file-text'>
        <span class='file-name'>{body.name}</span>
        <span class='muted small'>{fileLine(body)}</span>
      </div>
      <button
        type='button' class='icon-button' aria-label={`Download ${body.name}`} title='Download'
        onClick={() => { void download(body.fileId, body.name, session.token) }}
      ><Download />
      </button>
    </div>
  )
}

function Thumbnail ({ body, token }: { body: FileBody, token: string }) {
  const ref = useRef<HTMLButtonElement>(null)
  const [url, setUrl] = useState<string | null>(null)
  const [failed, setFailed] = useState(false)
  useEffect(() => {
    const el = ref.current
    if (el === null) return
    const observer = new IntersectionObserver((entries) => {
      if (!entries.some((e) => e.isIntersecting)) return
      observer.disconnect()
      fileObjectUrl(body.fileId, token).then(setUrl, () => setFailed(true))
    })
    observer.observe(el)
    return () => observer.disconnect()
  }, [body.fileId])
  return (
    <button
      type='button' class='thumb' ref={ref} aria-label={`Download ${body.name}`} title={fileLine(body)}
      onClick={() => { void download(body.fileId, body.name, token) }}
    >
      {url !== null
        ? <img src={url} alt={body.name} class='thumbnail' />
        : <span class='thumb-placeholder muted small'>{failed ? 'Image not available' : 'Loading image…'}</span>}
      <span class='thumb-caption small'>{fileLine(body)}</span>
    </button>
  )
}
