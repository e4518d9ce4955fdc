/**
 * A fresh id for a message's `cid` or a request's `req`: 32 hex digits,
 * inside the protocol's `[A-Za-z0-9_-]{1,64}`. randomUUID exists only in
 * secure browser contexts; getRandomValues everywhere.
 */
export function newId (): string {
  const crypto = globalThis.crypto
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID().replaceAll('-', '')
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('')
}

/** The protocol's pattern for a `cid` or `req` (CLIENT_ID_PATTERN in broker/im/protocol/names.ts). */
export const CLIENT_REF = /^[A-Za-z0-9_-]{1,64}$/
