import { partnerOf } from '../chat/conversation-state.js'
import { useStores } from './app-context.js'
import { Avatar } from './avatar.js'
import { HangUp, Phone, Video } from './icons.js'

/** Calls ringing on this device: who, and answer (with or without video) or decline. */
export function IncomingCalls () {
  const { chat, calls } = useStores()
  const ringing = calls.incoming.value
  if (ringing.length === 0) return null
  return (
    <div class='incoming-stack'>
      {ringing.map((call, i) => {
        // Ids for the first (tests and links); a second call at once is rare.
        const id = (name: string): string | undefined => i === 0 ? name : undefined
        const group = partnerOf(call.conv, chat.me) === undefined
        const groupName = group ? (chat.convs.value.get(call.conv)?.name ?? 'a group') : undefined
        return (
          <section key={call.id} id={id('incoming')} class='incoming card' role='alertdialog' aria-labelledby={`caller-${call.id}`} data-call={call.id}>
            <Avatar name={call.from} size={48} />
            <div class='grow'>
              <p><strong id={id('caller')}>{call.from}</strong></p>
              <p class='muted small' id={`caller-${call.id}`}>
                is calling{groupName !== undefined ? ` ${groupName}` : ''} · {call.media.video ? 'video' : 'voice'}
              </p>
            </div>
            <div class='row'>
              <button type='button' class='round danger' id={id('reject')} aria-label='Decline' title='Decline' onClick={() => { void calls.reject(call) }}><HangUp /></button>
              {call.media.video && (
                <button
                  type='button' class='round ok' id={id('answer')} aria-label='Answer with video' title='Answer with video' autofocus
                  onClick={() => { void calls.answer(call, true) }}
                ><Video />
                </button>
              )}
              <button
                type='button' class='round ok' id={id(call.media.video ? 'answer-audio' : 'answer')} aria-label={call.media.video ? 'Answer without video' : 'Answer'} title={call.media.video ? 'Answer without video' : 'Answer'}
                autofocus={!call.media.video} onClick={() => { void calls.answer(call, false) }}
              ><Phone />
              </button>
            </div>
          </section>
        )
      })}
    </div>
  )
}
