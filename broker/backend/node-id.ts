import { randomBytes, randomUUID } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { StoreError } from '../errors.js'

const FILE = 'node-id'

/**
 * This node's lasting name among the nodes sharing one Redis: made once and
 * kept in its data directory, so a restarted node finds what it left in
 * Redis (its publish journal).
 */
/** A new id for this run of node `node` (Backend.runId). */
export function runIdOf (node: string): string {
  return `${node}.${randomBytes(4).toString('hex')}`
}

export async function nodeId (dataDir: string): Promise<string> {
  const path = join(dataDir, FILE)
  try {
    const id = (await readFile(path, 'utf8')).trim()
    if (/^[A-Za-z0-9_-]{1,64}$/.test(id)) return id
    throw new StoreError(`${path} does not hold a node id (letters, digits, _ and -): remove it to make a new one`)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const id = randomUUID()
  await writeFile(path, id + '\n', { mode: 0o600, flag: 'wx' })
  return id
}
