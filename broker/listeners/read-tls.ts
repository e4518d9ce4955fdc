import { readFile } from 'node:fs/promises'
import { createSecureContext } from 'node:tls'
import { ListenError } from '../errors.js'

export interface TlsFiles { cert: Buffer, key: Buffer }

/**
 * The certificate and key of the TLS listeners, or a ListenError naming the
 * file that cannot be read or the pair that does not make a TLS context (bad
 * PEM, a key that is not the certificate's): checked here, so a bad pair
 * fails a start or a reload with one clear line before any listener uses it.
 */
export async function readTls (tls: { cert: string, key: string } | null): Promise<TlsFiles | undefined> {
  if (tls === null) return undefined
  const read = async (what: string, path: string): Promise<Buffer> => {
    try {
      return await readFile(path)
    } catch (err) {
      throw new ListenError(`cannot read TLS ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err })
    }
  }
  const files = { cert: await read('certificate', tls.cert), key: await read('key', tls.key) }
  try {
    createSecureContext(files)
  } catch (err) {
    throw new ListenError(`TLS certificate ${tls.cert} and key ${tls.key} do not make a TLS context: ${(err as Error).message}`, { cause: err })
  }
  return files
}
