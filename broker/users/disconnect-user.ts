import type { Access } from '../mqtt/access.js'

/**
 * Close every connection of `user`, as after the user is deleted: its
 * clients were let in by credentials that no longer exist. Returns how many
 * were closed.
 */
export function disconnectUser (access: Access, user: string): number {
  const clients = access.clientsOf(user)
  for (const client of clients) client.close()
  return clients.length
}
