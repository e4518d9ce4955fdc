import { lastShown, partnerOf, titleOf, unreadCount, type ConvState } from '../chat/conversation-state.js'
import { shortTime } from '../text/time-text.js'
import { useStores } from './app-context.js'
import { Avatar } from './avatar.js'
import { preview } from './message-text.js'

/** Conversations by latest activity, each with its last message, unread count and (direct chats) presence. */
export function ConversationList () {
  const { chat } = useStores()
  const me = chat.me
  const convs = [...chat.convs.value.values()].sort((a, b) => b.activity - a.activity || titleOf(a, me).localeCompare(titleOf(b, me)))
  const selected = chat.selected.value
  if (convs.length === 0) {
    return <p class='muted empty-list'>{chat.connection.value === 'connecting' ? 'Connecting…' : 'No conversations yet.'}</p>
  }
  return (
    <ul class='conv-list' role='list'>
      {convs.map((c) => <ConversationRow key={c.conv} state={c} selected={c.conv === selected} />)}
    </ul>
  )
}

function ConversationRow ({ state, selected }: { state: ConvState, selected: boolean }) {
  const { chat } = useStores()
  const me = chat.me
  const title = titleOf(state, me)
  const partner = partnerOf(state.conv, me)
  const presence = partner === undefined ? undefined : (chat.presence.value[partner]?.status ?? 'offline')
  const last = lastShown(state)
  const unread = selected ? 0 : unreadCount(state, me)
  const typing = Object.keys(state.typing)
  return (
    <li>
      <button
        type='button' class={`conv-row${selected ? ' selected' : ''}`} aria-current={selected ? 'true' : undefined}
        data-conv={state.conv} onClick={() => { chat.selected.value = state.conv }}
      >
        <Avatar name={title} presence={presence} />
        <span class='conv-main'>
          <span class='conv-top'>
            <span class='conv-title'>{title}</span>
            {state.type !== 'direct' && <span class='tag'>{state.type}</span>}
            {last !== undefined && <time class='muted small'>{shortTime(last.ts)}</time>}
          </span>
          <span class='conv-bottom'>
            <span class='conv-last muted'>
              {typing.length > 0
                ? <em>typing…</em>
                : last === undefined ? '' : `${last.from === me ? 'You: ' : state.type === 'direct' || last.from === '$system' ? '' : `${last.from}: `}${preview(last, me)}`}
            </span>
            {unread > 0 && <span class='unread' aria-label={`${unread} unread`}>{unread > 99 ? '99+' : unread}</span>}
          </span>
        </span>
        {presence !== undefined && <span class='visually-hidden'>{presence}</span>}
      </button>
    </li>
  )
}
