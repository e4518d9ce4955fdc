import { useState } from 'preact/hooks'
import { tickOf, type ConvState, type ShownMessage } from '../chat/conversation-state.js'
import { clockTime, fullTime } from '../text/time-text.js'
import { useStores } from './app-context.js'
import { CallRecord } from './call-record.js'
import { FileCard } from './file-card.js'
import { More, Ticks } from './icons.js'
import { systemText } from './message-text.js'

export const REACTIONS = ['👍', '❤️', '😂', '😮', '😢', '🙏']

export function MessageItem ({ state, message: m, grouped }: { state: ConvState, message: ShownMessage, grouped: boolean }) {
  const { chat } = useStores()
  const me = chat.me
  const [menu, setMenu] = useState(false)
  const [editing, setEditing] = useState(false)

  if (m.from === '$system') return <p class='system muted small' data-seq={m.seq}>{systemText(m, me)}</p>
  if (m.kind === 'call' && !m.deleted) return <CallRecord message={m} />

  const mine = m.from === me
  const stored = m.seq > 0 && !m.deleted
  // The server lets owners and admins of groups and channels recall anyone's message.
  const mayRecall = stored && (mine || (state.type !== 'direct' && (state.role === 'owner' || state.role === 'admin')))
  const mayEdit = stored && mine && m.kind === 'text'
  const tick = mine ? tickOf(state, m, me) : undefined

  const save = (event: Event): void => {
    event.preventDefault()
    const text = String(new FormData(event.currentTarget as HTMLFormElement).get('text') ?? '').trim()
    if (text !== '' && text !== m.text) chat.edit(state.conv, m.seq, text)
    setEditing(false)
  }

  return (
    <div
      class={`msg ${mine ? 'mine' : 'theirs'}${grouped ? ' grouped' : ''}${m.deleted ? ' deleted' : ''}`}
      data-seq={m.seq} data-cid={m.cid} data-from={m.from}
    >
      <div class='bubble'>
        {!mine && !grouped && state.type !== 'direct' && <span class='sender'>{m.from}</span>}
        {m.deleted
          ? <em class='muted'>Message recalled</em>
          : editing
            ? (
              <form class='edit' onSubmit={save} onKeyDown={(e) => { if (e.key === 'Escape') setEditing(false) }}>
                <textarea
                  name='text' aria-label='Edit message' rows={2} autofocus
                  onKeyDown={(e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); (e.currentTarget.form as HTMLFormElement).requestSubmit() } }}
                >{m.text}
                </textarea>
                <div class='row'>
                  <button type='button' onClick={() => setEditing(false)}>Cancel</button>
                  <button type='submit' class='primary'>Save</button>
                </div>
              </form>
              )
            : m.kind === 'file'
              ? <FileCard message={m} conv={state.conv} />
              : m.kind === 'text'
                ? <p class='text'>{m.text}</p>
                : <p class='text muted'>{m.kind === 'cipher' ? 'Encrypted message' : `A ${m.kind} message`}</p>}
        <span class='meta'>
          {m.edited && !m.deleted && <span class='edited'>edited</span>}
          <time dateTime={new Date(m.ts).toISOString()} title={fullTime(m.ts)}>{clockTime(m.ts)}</time>
          {tick !== undefined && <Ticks state={tick} />}
        </span>
        {m.pending?.state === 'failed' && (
          <p class='failed-note' role='alert'>
            {m.pending.error}
            {m.pending.retry !== undefined && <button type='button' class='link' onClick={() => m.pending?.retry?.()}>Retry</button>}
            <button type='button' class='link' onClick={() => chat.dismissPending(state.conv, m.cid)}>Dismiss</button>
          </p>
        )}
      </div>
      {stored && !editing && (
        <div class='msg-actions'>
          <button
            type='button' class='icon-button small' aria-label='Message actions' aria-haspopup='menu' aria-expanded={menu}
            onClick={() => setMenu(!menu)}
          ><More />
          </button>
          {menu && (
            <div class='menu' role='menu' onKeyDown={(e) => { if (e.key === 'Escape') setMenu(false) }}>
              <div class='emoji-row' role='group' aria-label='React'>
                {REACTIONS.map((emoji, i) => {
                  const own = m.reactions[emoji]?.includes(me) === true
                  return (
                    <button
                      type='button' key={emoji} role='menuitem' autofocus={i === 0} aria-label={`React ${emoji}`} aria-pressed={own}
                      onClick={() => { chat.react(state.conv, m.seq, emoji, own); setMenu(false) }}
                    >{emoji}
                    </button>
                  )
                })}
              </div>
              {mayEdit && <button type='button' role='menuitem' onClick={() => { setEditing(true); setMenu(false) }}>Edit</button>}
              {mayRecall && <button type='button' role='menuitem' class='danger' onClick={() => { chat.recall(state.conv, m.seq); setMenu(false) }}>Recall</button>}
            </div>
          )}
        </div>
      )}
      {Object.keys(m.reactions).length > 0 && (
        <div class='reactions'>
          {Object.entries(m.reactions).map(([emoji, users]) => {
            const own = users.includes(me)
            return (
              <button
                type='button' key={emoji} class={`reaction${own ? ' own' : ''}`} aria-pressed={own} title={users.join(', ')}
                onClick={() => chat.react(state.conv, m.seq, emoji, own)}
              >
                {emoji} <span>{users.length}</span>
              </button>
            )
          })}
        </div>
      )}
    </div>
  )
}
