import { useRef, useState } from 'preact/hooks'
import type { ConvState } from '../chat/conversation-state.js'
import { useStores } from './app-context.js'
import { Attach, Send } from './icons.js'

/** Writing: Enter sends, Shift+Enter starts a new line; files by the clip button, by pasting or by dropping them here. */
export function Composer ({ state }: { state: ConvState }) {
  const { chat } = useStores()
  const [text, setText] = useState('')
  const input = useRef<HTMLTextAreaElement>(null)
  const files = useRef<HTMLInputElement>(null)
  const conv = state.conv

  const send = (): void => {
    const body = text.trim()
    if (body === '') return
    chat.sendText(conv, body)
    setText('')
    input.current?.focus()
  }
  const sendFiles = (list: FileList | null | undefined): void => {
    for (const file of Array.from(list ?? [])) void chat.sendFile(conv, file)
  }

  return (
    <form
      class='composer' onSubmit={(e) => { e.preventDefault(); send() }}
      onDragOver={(e) => e.preventDefault()} onDrop={(e) => { e.preventDefault(); sendFiles(e.dataTransfer?.files) }}
    >
      <button type='button' class='icon-button' aria-label='Send a file' title='Send a file' onClick={() => files.current?.click()}><Attach /></button>
      <input
        type='file' ref={files} id='file-input' class='visually-hidden' tabIndex={-1} multiple
        onChange={(e) => { sendFiles(e.currentTarget.files); e.currentTarget.value = '' }}
      />
      <textarea
        ref={input} id='composer-input' name='text' rows={Math.min(6, text.split('\n').length)} placeholder='Message'
        aria-label='Message' value={text} autofocus
        onInput={(e) => {
          const value = e.currentTarget.value
          setText(value)
          chat.typing(conv, value !== '')
        }}
        onBlur={() => chat.typing(conv, false)}
        onPaste={(e) => { if ((e.clipboardData?.files.length ?? 0) > 0) { e.preventDefault(); sendFiles(e.clipboardData?.files) } }}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault()
            send()
          }
        }}
      />
      <button type='submit' class='icon-button send' aria-label='Send' title='Send' disabled={text.trim() === ''}><Send /></button>
    </form>
  )
}
