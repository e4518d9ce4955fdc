import { useState } from 'preact/hooks'
import { describe } from '../chat/chat-store.js'
import { useStores } from './app-context.js'
import { Dialog } from './dialog.js'

export type NewKind = 'direct' | 'group' | 'channel' | 'follow' | 'call'

const TITLES: Record<NewKind, string> = {
  direct: 'New chat',
  group: 'New group',
  channel: 'New channel',
  follow: 'Follow a channel',
  call: 'Call someone'
}

const names = (text: string): string[] => text.split(/[\s,]+/).map((u) => u.trim().toLowerCase()).filter(Boolean)

/** Starting something: a direct chat, a group, a channel, following one, or a call to a user by name. */
export function NewConversation ({ kind, onClose }: { kind: NewKind, onClose: () => void }) {
  const { chat, calls } = useStores()
  const [error, setError] = useState('')
  const [busy, setBusy] = useState(false)

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault()
    const data = new FormData(event.currentTarget as HTMLFormElement)
    const field = (name: string): string => String(data.get(name) ?? '').trim()
    setBusy(true)
    setError('')
    try {
      switch (kind) {
        case 'direct': await chat.openDirect(field('to')); break
        case 'group': await chat.createGroup(field('name'), names(field('members'))); break
        case 'channel': await chat.createChannel(field('name')); break
        case 'follow': await chat.follow(field('conv')); break
        case 'call': {
          const user = field('to').toLowerCase()
          const conv = await chat.openDirect(user)
          onClose()
          await calls.place(conv, user, data.get('video') !== null)
          return
        }
      }
      onClose()
    } catch (err) {
      setError(describe(err))
      setBusy(false)
    }
  }

  return (
    <Dialog title={TITLES[kind]} onClose={onClose} id={`new-${kind}`}>
      <form id={kind === 'call' ? 'place' : `form-${kind}`} class='stack' onSubmit={submit}>
        {(kind === 'direct' || kind === 'call') && (
          <label>User name <input name='to' required autofocus autocapitalize='none' spellcheck={false} /></label>
        )}
        {kind === 'call' && (
          <label class='check'><input type='checkbox' name='video' defaultChecked /> with video</label>
        )}
        {(kind === 'group' || kind === 'channel') && (
          <label>Name <input name='name' required autofocus maxLength={100} /></label>
        )}
        {kind === 'group' && (
          <label>Members <input name='members' placeholder='user names, separated by commas' autocapitalize='none' spellcheck={false} /></label>
        )}
        {kind === 'follow' && (
          <label>Channel id <input name='conv' required autofocus placeholder='c:…' spellcheck={false} /></label>
        )}
        <p class='error' role='alert'>{error}</p>
        <div class='row end'>
          <button type='button' onClick={onClose}>Cancel</button>
          <button type='submit' class='primary' disabled={busy}>{kind === 'call' ? 'Call' : kind === 'follow' ? 'Follow' : kind === 'direct' ? 'Open' : 'Create'}</button>
        </div>
      </form>
    </Dialog>
  )
}
