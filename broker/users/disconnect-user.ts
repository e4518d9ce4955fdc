import type { Aedes, Client } from 'aedes'
import type { Access } from '../access.js'

/**
 * Close every connection of `user`, as after the user is deleted: its
 * clients were let in by credentials that no longer exist. Returns how many
 * were closed.
 */
export function disconnectUser (aedes: Aedes, access: Access, user: string): number {
  // aedes keeps its connected clients by id, untyped.
  const clients = (aedes as unknown as { clients: Record<string, Client> }).clients
  let closed = 0
  for (const client of Object.values(clients)) {
    if (access.identity(client)?.user !== user) continue
    client.close()
    closed++
  }
  return closed
}
