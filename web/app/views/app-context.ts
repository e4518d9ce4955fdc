import { createContext } from 'preact'
import { useContext } from 'preact/hooks'
import type { CallStore } from '../calls/call-store.js'
import type { ChatStore } from '../chat/chat-store.js'
import type { Session } from '../session/session.js'

export interface AppStores {
  chat: ChatStore
  calls: CallStore
  session: Session
}

export const AppContext = createContext<AppStores | null>(null)

export function useStores (): AppStores {
  const stores = useContext(AppContext)
  if (stores === null) throw new Error('no stores: render inside <ChatApp>')
  return stores
}
