import { readFile } from 'node:fs/promises'
import { ListenError } from '../errors.js'

export interface TlsFiles { cert: Buffer, key: Buffer }

/** The certificate and key of the TLS listeners, or a ListenError naming the file that cannot be read. */
export async function readTls (tls: { cert: string, key: string } | null): Promise<TlsFiles | undefined> {
  if (tls === null) return undefined
  const read = async (what: string, path: string): Promise<Buffer> => {
    try {
      return await readFile(path)
    } catch (err) {
      throw new ListenError(`cannot read TLS ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err })
    }
  }
  return { cert: await read('certificate', tls.cert), key: await read('key', tls.key) }
}
