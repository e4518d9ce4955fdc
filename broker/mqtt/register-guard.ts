import type { Aedes, Client } from 'aedes'

/**
 * The part of aedes 1.2.0 (aedes.js) this module replaces: `registerClient`
 * ends in `_finishRegisterClient(client)`, directly or once a taken-over
 * session's old connection has closed. test/broker/mqtt/register-guard.test.ts
 * fails if that goes.
 */
interface RegistryInternals {
  _finishRegisterClient: (client: Client) => void
}

/** aedes' persistence as aedes' own close calls it to drop a will. */
interface WillStore {
  persistence: { delWill: (client: { id: string, brokerId: string }) => Promise<unknown> }
}

/** What aedes' Client has and its types do not declare. */
interface ClientState {
  closed?: boolean
  id: string
  /** Set by the chain's storeWill step, which also stored it. */
  will?: unknown
}

/**
 * aedes registers a client near the end of its CONNECT chain (authenticate,
 * fetch and restore subscriptions, store the will, register, CONNACK), and
 * a closing client unregisters only if it is registered by then. A
 * connection that closes in the middle of the chain — the wire guard
 * refusing a packet that came in the same read as the CONNECT, a reset, the
 * old connection of a takeover's new one — was registered afterwards all
 * the same: counted in `connectedClients` (hail_connections) for good, held
 * in `aedes.clients`, announced to Hail's 'client' listeners with no
 * 'clientDisconnect' to follow, and its will left stored (the close ran
 * before the chain stored it). Here a client that is closed by the time it
 * would be registered is not, and the will the chain stored for it is
 * deleted, as aedes' own close does for a connection that ends without
 * publishing it; the rest of the chain writes its CONNACK to a closed
 * socket, which drops it.
 */
export function guardRegistration (aedes: Aedes): void {
  const internals = aedes as unknown as RegistryInternals
  const finish = internals._finishRegisterClient
  if (typeof finish !== 'function') {
    throw new Error('aedes has no _finishRegisterClient (aedes internals changed?): see broker/mqtt/register-guard.ts')
  }
  internals._finishRegisterClient = function guardedFinish (client: Client): void {
    const state = client as unknown as ClientState
    if (state.closed === true) {
      if (state.will !== undefined && state.will !== null) (aedes as unknown as WillStore).persistence.delWill({ id: state.id, brokerId: aedes.id }).then(() => {}, () => {})
      return
    }
    finish.call(aedes, client)
  }
}
