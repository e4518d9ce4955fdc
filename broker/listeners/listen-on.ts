import type { Server } from 'node:net'
import { ListenError } from '../errors.js'

export interface BoundAddress {
  host: string
  port: number
}

/** server.listen() as a promise that rejects with a ListenError naming the address. */
export function listenOn (server: Server, host: string, port: number): Promise<BoundAddress> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const why = err.code === 'EADDRINUSE'
        ? 'address already in use'
        : err.code === 'EACCES' ? 'permission denied' : err.message
      reject(new ListenError(`cannot listen on ${host}:${port}: ${why}`, { cause: err }))
    }
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      const address = server.address()
      if (address === null || typeof address === 'string') {
        return resolve({ host, port })
      }
      resolve({ host: address.address, port: address.port })
    })
  })
}
