import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'
import { StoreError } from '../errors.js'

/**
 * scrypt cost parameters (RFC 7914): N the CPU/memory cost, a power of two;
 * r the block size; p the parallelism. Memory per hash is about 128 * N * r bytes.
 */
export interface ScryptParams {
  readonly N: number
  readonly r: number
  readonly p: number
}

/**
 * 32 MiB and some 50-100 ms per hash on a current core: the interactive end of
 * RFC 7914 §2, doubled. Node runs scrypt on libuv's thread pool (4 threads
 * by default), so a storm of logins costs at most 4 x 32 MiB at a time; the
 * login guard keeps one address or account from causing it.
 */
export const defaultScryptParams: ScryptParams = Object.freeze({ N: 2 ** 15, r: 8, p: 1 })

const SALT_BYTES = 16
const KEY_BYTES = 32
/** `$scrypt$ln=15,r=8,p=1$<salt>$<key>`: the PHC string format, base64 without padding. */
const PHC = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/

/**
 * Hash a password with a fresh random salt. The result carries its own
 * parameters, so raising the cost later leaves older hashes verifiable.
 */
export async function hashPassword (password: Uint8Array, params: ScryptParams = defaultScryptParams): Promise<string> {
  checkParams(params)
  const salt = randomBytes(SALT_BYTES)
  const key = await derive(password, salt, params, KEY_BYTES)
  return `$scrypt$ln=${Math.log2(params.N)},r=${params.r},p=${params.p}$${b64(salt)}$${b64(key)}`
}

/** Whether `password` hashes to `encoded`, compared in constant time. */
export async function verifyPassword (password: Uint8Array, encoded: string): Promise<boolean> {
  const { params, salt, key } = parseHash(encoded)
  const candidate = await derive(password, salt, params, key.length)
  return timingSafeEqual(candidate, key)
}

/** Whether `encoded` was made with other parameters than `params`: then it is worth hashing again. */
export function needsRehash (encoded: string, params: ScryptParams = defaultScryptParams): boolean {
  const stored = parseHash(encoded).params
  return stored.N !== params.N || stored.r !== params.r || stored.p !== params.p
}

function parseHash (encoded: string): { params: ScryptParams, salt: Buffer, key: Buffer } {
  const match = PHC.exec(encoded)
  if (match === null) throw new StoreError('a stored password hash is not in the $scrypt$ln=..,r=..,p=..$salt$key format')
  const [, ln, r, p, salt, key] = match
  const params = { N: 2 ** Number(ln), r: Number(r), p: Number(p) }
  checkParams(params)
  return { params, salt: Buffer.from(salt!, 'base64'), key: Buffer.from(key!, 'base64') }
}

/** Bounds that keep a bad option or a corrupt record from asking for gigabytes. */
function checkParams ({ N, r, p }: ScryptParams): void {
  const ln = Math.log2(N)
  if (!Number.isInteger(ln) || ln < 1 || ln > 20 || !Number.isInteger(r) || r < 1 || r > 32 || !Number.isInteger(p) || p < 1 || p > 16) {
    throw new StoreError(`scrypt parameters out of range: N=${N} (a power of two up to 2^20), r=${r} (1-32), p=${p} (1-16)`)
  }
}

function derive (password: Uint8Array, salt: Buffer, { N, r, p }: ScryptParams, length: number): Promise<Buffer> {
  // OpenSSL needs 128 * N * r bytes plus a little; the default maxmem (32 MiB) is exactly N = 2^15, r = 8.
  const options: ScryptOptions = { N, r, p, maxmem: 128 * N * r * 2 + 128 * r * p }
  return new Promise((resolve, reject) => {
    scrypt(password, salt, length, options, (err, key) => err === null ? resolve(key) : reject(err))
  })
}

function b64 (bytes: Buffer): string {
  return bytes.toString('base64').replace(/=+$/, '')
}
