import type { ImStores as ConversationStores } from './store/im-stores.js'

/** What the engine asks of the user directory (broker/users). */
export interface UsersView {
  exists: (user: string) => Promise<boolean>
}

/**
 * The stores the IM engine works with: the conversation stores of store/
 * (level now, Redis with scale-out) and the user directory.
 */
export interface ImStores extends Omit<ConversationStores, 'close'> {
  readonly users: UsersView
}
