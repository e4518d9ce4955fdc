import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks'
import type { ConvState, ShownMessage } from '../chat/conversation-state.js'
import { dayLabel, sameDay } from '../text/time-text.js'
import { useStores } from './app-context.js'
import { MessageItem } from './message-item.js'

/** Pixels from the bottom that still count as "at the end" (then new messages scroll into view and are read). */
const NEAR_END = 48
/** Pixels from the top at which the previous page starts loading. */
const NEAR_TOP = 200

/**
 * The messages of one conversation: the newest page first, older pages as
 * the user scrolls up (keeping what is on screen in place), new ones
 * followed while the view is at the end, where everything counts as read.
 */
export function MessageList ({ state }: { state: ConvState }) {
  const { chat } = useStores()
  const ref = useRef<HTMLDivElement>(null)
  const atEnd = useRef(true)
  const height = useRef(0)
  const firstSeq = useRef<number | undefined>(undefined)
  const [visible, setVisible] = useState(document.visibilityState === 'visible')
  const conv = state.conv
  const items: ShownMessage[] = [...state.messages, ...state.pending]
  // While the device catches up, the newest page is still arriving: an empty or short view then is not the
  // conversation's beginning, and loading older pages meanwhile would fetch one the catch-up is about to bring.
  const caughtUp = chat.connection.value === 'online'
  const canLoadOlder = state.loadedFrom > state.firstSeq

  useEffect(() => {
    const onVisibility = (): void => setVisible(document.visibilityState === 'visible')
    document.addEventListener('visibilitychange', onVisibility)
    return () => document.removeEventListener('visibilitychange', onVisibility)
  }, [])

  useLayoutEffect(() => {
    const el = ref.current
    if (el === null) return
    const first = state.messages[0]?.seq
    if (firstSeq.current !== undefined && first !== undefined && first < firstSeq.current && !atEnd.current) {
      // An older page went in above: keep the messages the user was reading where they were.
      el.scrollTop += el.scrollHeight - height.current
    } else if (atEnd.current) {
      el.scrollTop = el.scrollHeight
    }
    firstSeq.current = first
    height.current = el.scrollHeight
    // A short page that does not fill the view cannot be scrolled up: load more at once.
    if (el.scrollHeight <= el.clientHeight + NEAR_TOP && caughtUp && canLoadOlder && !state.loadingOlder) void chat.loadOlder(conv)
  })

  useEffect(() => {
    if (visible && atEnd.current) chat.markRead(conv)
  }, [state.lastSeq, visible])

  const onScroll = (): void => {
    const el = ref.current
    if (el === null) return
    atEnd.current = el.scrollHeight - el.scrollTop - el.clientHeight < NEAR_END
    height.current = el.scrollHeight
    if (atEnd.current && visible) chat.markRead(conv)
    if (el.scrollTop < NEAR_TOP && canLoadOlder && !state.loadingOlder) void chat.loadOlder(conv)
  }

  return (
    <div class='messages' ref={ref} onScroll={onScroll} tabIndex={0} role='log' aria-label='Messages' aria-live='polite' id='messages'>
      <div class='history-edge muted small'>
        {state.loadingOlder
          ? 'Loading earlier messages…'
          : canLoadOlder
            ? <button type='button' class='link' id='load-older' onClick={() => { void chat.loadOlder(conv) }}>Load earlier messages</button>
            : 'The beginning of this conversation'}
      </div>
      {items.map((m, i) => {
        const prev = items[i - 1]
        const newDay = prev === undefined || !sameDay(prev.ts, m.ts)
        const grouped = !newDay && prev !== undefined && prev.from === m.from && m.ts - prev.ts < 120_000 && prev.from !== '$system'
        return (
          <div key={m.seq === 0 ? m.cid : m.seq}>
            {newDay && <div class='day' role='separator'><span>{dayLabel(m.ts)}</span></div>}
            <MessageItem state={state} message={m} grouped={grouped} />
          </div>
        )
      })}
    </div>
  )
}
