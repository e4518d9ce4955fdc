import { useEffect, useState } from 'preact/hooks'
import { mayPost, partnerOf, titleOf } from '../chat/conversation-state.js'
import { lastSeen } from '../text/time-text.js'
import { useStores } from './app-context.js'
import { Avatar } from './avatar.js'
import { Composer } from './composer.js'
import { ConversationInfo } from './conversation-info.js'
import { Back, Info, Phone, Video } from './icons.js'
import { MessageList } from './message-list.js'

export function ConversationView ({ conv }: { conv: string }) {
  const { chat, calls } = useStores()
  const state = chat.convs.value.get(conv)
  const [info, setInfo] = useState(false)
  const me = chat.me

  useEffect(() => {
    // Members: the info panel of groups, everyone's presence, and where their receipts stand (the ticks).
    if (state !== undefined && state.members === undefined) chat.loadMembers(conv)
  }, [conv, state === undefined])

  if (state === undefined) return <div class='empty muted'><p>Loading…</p></div>
  const title = titleOf(state, me)
  const partner = partnerOf(conv, me)
  const presence = partner === undefined ? undefined : chat.presence.value[partner]
  const typing = Object.keys(state.typing)
  const callable = state.type !== 'channel'
  const inCall = calls.active.value !== null
  const joinable = calls.joinable.value[conv]

  let subtitle: string
  if (typing.length > 0) subtitle = `${typing.join(', ')} ${typing.length === 1 ? 'is' : 'are'} typing…`
  else if (presence !== undefined) subtitle = presence.status === 'offline' ? lastSeen(presence.lastSeen) : presence.status
  else if (partner !== undefined) subtitle = ''
  else subtitle = state.members === undefined ? state.type : `${state.members.length} ${state.type === 'channel' ? 'followers' : 'members'}`

  return (
    <section class={`conversation${info ? ' with-info' : ''}`} aria-label={title}>
      <header class='conv-head'>
        <button type='button' class='icon-button back' aria-label='Back to conversations' onClick={() => { chat.selected.value = null }}><Back /></button>
        <Avatar name={title} presence={presence?.status ?? (partner === undefined ? undefined : 'offline')} size={36} />
        <div class='conv-head-text'>
          <h2 id='conv-title'>{title}</h2>
          <p class={`muted small${typing.length > 0 ? ' typing' : ''}`} id='conv-subtitle' aria-live='polite'>{subtitle}</p>
        </div>
        {callable && joinable !== undefined && !inCall && (
          <button type='button' class='primary small-button' id='join-call' onClick={() => { void calls.join(conv, joinable, title) }}>Join call</button>
        )}
        {callable && (
          <>
            <button
              type='button' class='icon-button' id='voice-call' aria-label='Voice call' title='Voice call' disabled={inCall}
              onClick={() => { void calls.place(conv, title, false) }}
            ><Phone />
            </button>
            <button
              type='button' class='icon-button' id='video-call' aria-label='Video call' title='Video call' disabled={inCall}
              onClick={() => { void calls.place(conv, title, true) }}
            ><Video />
            </button>
          </>
        )}
        <button type='button' class='icon-button' id='conv-info' aria-label='Details' title='Details' aria-expanded={info} onClick={() => setInfo(!info)}><Info /></button>
      </header>
      <div class='conv-body'>
        <div class='conv-main-col'>
          <MessageList state={state} />
          {mayPost(state)
            ? <Composer state={state} />
            : <p class='composer readonly muted' id='readonly'>Only the channel's owners and admins post here.</p>}
        </div>
        {info && <ConversationInfo state={state} onClose={() => setInfo(false)} />}
      </div>
    </section>
  )
}
