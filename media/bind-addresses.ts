/**
 * Which local address each of the server's ICE sockets binds.
 *
 * The server is ICE-lite: it only answers the device's connectivity checks,
 * and a browser drops a response whose source address is not the one its
 * check was sent to (RFC 8445 §7.2.5.2.1). A socket bound to a wildcard
 * (0.0.0.0 / ::) replies with the source address the kernel picks for the
 * route back, which need not be the announced address the device used (a
 * Chromium on 192.0.2.2 sending to the announced 127.0.0.1 gets its answer
 * from 192.0.2.2 and never connects). So with a wildcard listenAddress each
 * announced address that is one of this machine's own gets a socket bound to
 * exactly that address; an announced address that is not local (a public
 * address in front of a 1:1 NAT) keeps a wildcard socket, and the NAT
 * rewrites the source. A specific listenAddress binds every socket of its
 * family to it, as configured. Only announced addresses get a socket at all:
 * werift would also open one per interface address, which no SDP mentions.
 */
import { isIPv6 } from 'node:net'
import { networkInterfaces } from 'node:os'
import type { RTCPeerConnection } from 'werift'

const WILDCARDS = new Set(['0.0.0.0', '::', '0:0:0:0:0:0:0:0', ''])

export function isWildcard (address: string): boolean { return WILDCARDS.has(address) }

function isLocal (address: string): boolean {
  if (address === '::1' || /^127\.\d+\.\d+\.\d+$/.test(address)) return true
  return Object.values(networkInterfaces()).some((list) => (list ?? []).some((i) => i.address === address))
}

/** announced address -> the address its socket binds. */
export function bindAddresses (listenAddress: string, announced: string[]): Map<string, string> {
  const plan = new Map<string, string>()
  for (const a of announced) {
    const v6 = isIPv6(a)
    if (!isWildcard(listenAddress) && isIPv6(listenAddress) === v6) plan.set(a, listenAddress)
    else plan.set(a, isLocal(a) ? a : (v6 ? '::' : '0.0.0.0'))
  }
  return plan
}

interface Agent {
  options: { interfaceAddresses?: { udp4?: string, udp6?: string } }
  getCandidatePromises: (addresses: string[], timeout?: number) => Array<Promise<unknown>>
}

/**
 * Makes each ICE agent of `pc` gather host candidates only on the planned
 * addresses, each socket bound per the plan. werift reads
 * options.interfaceAddresses synchronously when it opens a socket
 * (ice.js getCandidatePromises -> StunProtocol.connectionMade), so the agent
 * is asked one address at a time with the matching bind address. Call before
 * every gathering pass (setLocalDescription); agents already set are skipped.
 */
export function applyBindAddresses (pc: RTCPeerConnection, plan: Map<string, string>, done: WeakSet<object>): void {
  for (const t of pc.iceTransports) {
    const agent = t.connection as unknown as Agent
    if (done.has(agent) || typeof agent.getCandidatePromises !== 'function') continue
    done.add(agent)
    const gather = agent.getCandidatePromises.bind(agent)
    agent.getCandidatePromises = (addresses, timeout) => {
      const out: Array<Promise<unknown>> = []
      for (const address of addresses) {
        const bind = plan.get(address)
        if (bind === undefined) continue
        const saved = agent.options.interfaceAddresses
        agent.options.interfaceAddresses = isIPv6(address) ? { udp6: bind } : { udp4: bind }
        try {
          out.push(...gather([address], timeout))
        } finally {
          agent.options.interfaceAddresses = saved
        }
      }
      return out
    }
  }
}
