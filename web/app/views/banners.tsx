import { useEffect, useRef } from 'preact/hooks'
import { useStores } from './app-context.js'
import { Close } from './icons.js'

/**
 * Says when the connection is gone and while it is caught up again; the
 * catch-up itself is quiet (messages appear in place, once each).
 */
export function ConnectionBanner () {
  const { chat } = useStores()
  const state = chat.connection.value
  const wasOffline = useRef(false)
  if (state === 'offline') wasOffline.current = true
  if (state === 'online') wasOffline.current = false
  if (state === 'online' || (state !== 'offline' && !wasOffline.current)) return null
  return (
    <div class={`banner ${state}`} role='status' id='connection-banner' data-state={state}>
      {state === 'offline' ? 'Connection lost. Reconnecting…' : 'Reconnected. Catching up…'}
    </div>
  )
}

/** One short message at a time: a refused action, an upload that failed, how a call ended. */
export function Notice () {
  const { chat, calls } = useStores()
  const text = chat.notice.value
  const outcome = calls.outcome.value
  useEffect(() => {
    if (text === null) return
    const timer = setTimeout(() => { chat.notice.value = null }, 6000)
    return () => clearTimeout(timer)
  }, [text])
  useEffect(() => {
    if (outcome === null) return
    const timer = setTimeout(() => calls.dismissOutcome(), 8000)
    return () => clearTimeout(timer)
  }, [outcome])
  if (text === null && outcome === null) return null
  return (
    <div class='toasts' role='status' aria-live='polite'>
      {outcome !== null && (
        <div class='toast' id='call-outcome'>
          <span><strong>{outcome.title}</strong>: {outcome.text}</span>
          <button type='button' class='icon-button' aria-label='Dismiss' onClick={() => calls.dismissOutcome()}><Close /></button>
        </div>
      )}
      {text !== null && (
        <div class='toast' id='notice'>
          <span>{text}</span>
          <button type='button' class='icon-button' aria-label='Dismiss' onClick={() => { chat.notice.value = null }}><Close /></button>
        </div>
      )}
    </div>
  )
}
