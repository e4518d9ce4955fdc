import { useState } from 'preact/hooks'
import { partnerOf, titleOf, type ConvState } from '../chat/conversation-state.js'
import { lastSeen } from '../text/time-text.js'
import { useStores } from './app-context.js'
import { Avatar } from './avatar.js'
import { Close } from './icons.js'

/** Details of a conversation, and what the user's role lets them change: name, members, roles; leaving. */
export function ConversationInfo ({ state, onClose }: { state: ConvState, onClose: () => void }) {
  const { chat } = useStores()
  const me = chat.me
  const conv = state.conv
  const manager = state.role === 'owner' || state.role === 'admin'
  const [adding, setAdding] = useState('')
  const [name, setName] = useState(state.name ?? '')
  const partner = partnerOf(conv, me)
  const refresh = (): void => chat.loadMembers(conv)

  return (
    <aside class='info-panel' aria-label='Details' id='info-panel' onKeyDown={(e) => { if (e.key === 'Escape') onClose() }}>
      <header class='info-head'>
        <h3>{state.type === 'direct' ? 'Contact' : state.type === 'group' ? 'Group' : 'Channel'}</h3>
        <button type='button' class='icon-button' aria-label='Close details' onClick={onClose}><Close /></button>
      </header>
      {partner !== undefined && (
        <div class='info-section'>
          <Avatar name={partner} presence={chat.presence.value[partner]?.status ?? 'offline'} size={56} />
          <p><strong>{partner}</strong></p>
          <p class='muted small'>{presenceLine(chat.presence.value[partner])}</p>
        </div>
      )}
      {state.type !== 'direct' && (
        <>
          <div class='info-section'>
            {manager
              ? (
                <form class='row' onSubmit={(e) => { e.preventDefault(); if (name.trim() !== '') void chat.act(async () => await chat.client.rename(conv, name.trim())) }}>
                  <label class='grow'>Name <input name='name' value={name} onInput={(e) => setName(e.currentTarget.value)} maxLength={100} /></label>
                  <button type='submit'>Rename</button>
                </form>
                )
              : <p><strong>{titleOf(state, me)}</strong></p>}
            <p class='muted small'>You are {article(state.role)} {state.role}.</p>
            {state.type === 'channel' && (
              <p class='small'>Channel id, for others to follow: <code id='channel-id'>{conv}</code></p>
            )}
          </div>
          {state.type === 'group' && manager && (
            <form
              class='info-section row' onSubmit={(e) => {
                e.preventDefault()
                const users = adding.split(/[\s,]+/).map((u) => u.trim().toLowerCase()).filter(Boolean)
                if (users.length > 0) void chat.act(async () => { await chat.client.addMembers(conv, users); setAdding(''); refresh() })
              }}
            >
              <label class='grow'>Add members <input name='add' value={adding} placeholder='user names' onInput={(e) => setAdding(e.currentTarget.value)} /></label>
              <button type='submit'>Add</button>
            </form>
          )}
          <ul class='members' aria-label='Members'>
            {(state.members ?? []).map((m) => (
              <li key={m.user} data-member={m.user}>
                <Avatar name={m.user} presence={m.user === me ? 'online' : (chat.presence.value[m.user]?.status ?? 'offline')} size={28} />
                <span class='grow'>{m.user === me ? `${m.user} (you)` : m.user}</span>
                <span class='tag'>{m.role}</span>
                {state.role === 'owner' && m.user !== me && m.role !== 'owner' && state.type === 'group' && (
                  <button type='button' class='link small' onClick={() => { void chat.act(async () => { await chat.client.setRole(conv, m.user, m.role === 'admin' ? 'member' : 'admin'); refresh() }) }}>
                    {m.role === 'admin' ? 'Make member' : 'Make admin'}
                  </button>
                )}
                {manager && m.user !== me && m.role !== 'owner' && state.type === 'group' && (
                  <button type='button' class='link small danger' onClick={() => { void chat.act(async () => { await chat.client.removeMembers(conv, [m.user]); refresh() }) }}>Remove</button>
                )}
              </li>
            ))}
          </ul>
          <div class='info-section'>
            <button
              type='button' class='danger' id='leave' onClick={() => {
                void chat.act(async () => {
                  if (state.type === 'channel' && state.role === 'follower') await chat.client.unfollow(conv)
                  else await chat.client.leave(conv)
                  chat.selected.value = null
                  // The list again, without it (the server's notice may come later).
                  await chat.client.conversations()
                })
              }}
            >{state.type === 'channel' && state.role === 'follower' ? 'Unfollow' : 'Leave'}
            </button>
          </div>
        </>
      )}
    </aside>
  )
}

function presenceLine (p: { status: string, lastSeen: number } | undefined): string {
  if (p === undefined) return 'offline'
  return p.status === 'offline' ? lastSeen(p.lastSeen) : p.status
}

function article (role: string): string {
  return /^[aeiou]/.test(role) ? 'an' : 'a'
}
