/** A device's public key, as the device published it. */
export interface PublicKey {
  keyId: string
  /** The algorithm, e.g. 'x25519' or 'ed25519'; not interpreted here. */
  alg: string
  /** Standard base64. */
  publicKey: string
  createdAt: number
}

export interface DeviceKey extends PublicKey {
  device: string
}

/**
 * Public keys per user device, for end-to-end encryption: senders fetch the
 * keys of every device of the recipients. Writes are synced. The directory
 * only stores; whether a key is trusted is the clients' business.
 */
export interface KeyDirectory {
  /** Sets (or replaces) the key of the device. */
  put: (user: string, device: string, key: PublicKey) => Promise<void>
  get: (user: string, device: string) => Promise<PublicKey | undefined>
  /** Every device's key, ordered by device. */
  list: (user: string) => Promise<DeviceKey[]>
  /** Resolves false when the device had no key. */
  delete: (user: string, device: string) => Promise<boolean>
  /** Removes every key of the user; resolves with how many. */
  deleteAll: (user: string) => Promise<number>
  /** Waits for the writes in flight; the directory must not be used afterwards. Does not close the database. */
  close: () => Promise<void>
}
