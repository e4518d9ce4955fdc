import { useEffect, useMemo, useState } from 'preact/hooks'
import { CallStore } from '../calls/call-store.js'
import { ChatStore } from '../chat/chat-store.js'
import { partnerOf, titleOf } from '../chat/conversation-state.js'
import { DashboardView } from '../dashboard/dashboard-view.js'
import { route } from '../route.js'
import { device, restoring, session, signOut, type Session } from '../session/session.js'
import { AppContext } from './app-context.js'
import { ChatShell } from './chat-shell.js'
import { SignIn } from './sign-in.js'

export function App () {
  const s = session.value
  if (restoring.value) return <div class='splash' aria-busy='true'>Hail</div>
  if (s === null) return <SignIn />
  if (route.value.startsWith('/dashboard')) return <DashboardView session={s} />
  // A new client per user; a renewed token does not reconnect the one that runs.
  return <ChatApp key={s.user} session={s} />
}

/** Handles for the browser tests: the stores, and the call page's old `hailPage` view of the call. */
interface TestHandles {
  hailApp?: { chat: ChatStore, calls: CallStore }
  hailPage?: { readonly call: unknown, readonly lastStats: unknown }
}

function ChatApp ({ session: s }: { session: Session }) {
  const stores = useMemo(() => {
    const chat = new ChatStore({
      user: s.user,
      device: device.value.name,
      persistent: device.value.persistent,
      token: () => session.value?.token ?? s.token,
      maxFileBytes: s.limits.maxFileBytes,
      onRefused: () => signOut()
    })
    const title = (conv: string, from: string): string => {
      const state = chat.conv(conv)
      return state === undefined ? (partnerOf(conv, s.user) ?? from) : titleOf(state, s.user)
    }
    return { chat, calls: new CallStore(chat.client, s.user, title) }
  }, [s.user])
  const [failed, setFailed] = useState<string | null>(null)

  useEffect(() => {
    const w = window as unknown as TestHandles
    w.hailApp = stores
    w.hailPage = {
      get call () { return stores.calls.active.value?.call },
      get lastStats () { return stores.calls.active.value?.quality.at(-1) }
    }
    stores.chat.start().catch((err: { code?: string, message?: string }) => {
      if (err.code === 'HAIL_ERR_NOT_AUTHORIZED') signOut()
      else setFailed(err.message ?? String(err))
    })
    // Signed out (here or in another tab): the broker forgets this device too; else (another user) just close.
    return () => { void (session.value === null ? stores.chat.signOut() : stores.chat.stop()) }
  }, [stores])

  if (failed !== null) {
    return (
      <div class='splash'>
        <p role='alert'>Cannot reach the server: {failed}</p>
        <button type='button' onClick={() => location.reload()}>Try again</button>
      </div>
    )
  }
  return (
    <AppContext.Provider value={{ ...stores, session: s }}>
      <ChatShell />
    </AppContext.Provider>
  )
}
