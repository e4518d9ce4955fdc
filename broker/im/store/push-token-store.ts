export type PushPlatform = 'fcm' | 'apns' | 'web'

/** A push token a device registered, as the push hook hands it to the operator's gateway. */
export interface PushToken {
  device: string
  token: string
  platform: PushPlatform
  addedAt: number
}

/**
 * Push tokens per user device (FCM registration tokens, APNs device tokens,
 * Web Push subscriptions). A token belongs to one (user, device) at a time:
 * registering it again, under any user, moves it, so a phone handed to
 * someone else never gets the previous owner's notifications. Writes are
 * synced. The store never interprets a token.
 */
export interface PushTokenStore {
  /** Adds (or moves) the token to the device; a device keeps at most a few, the oldest go first. */
  register: (user: string, device: string, token: string, platform: PushPlatform) => Promise<void>
  /** Removes one token of the user; resolves false when the user had no such token. */
  unregister: (user: string, token: string) => Promise<boolean>
  /** Removes every token of the device; resolves with how many. */
  unregisterDevice: (user: string, device: string) => Promise<number>
  /** Every token of the user, ordered by device. */
  list: (user: string) => Promise<PushToken[]>
  /** Waits for the writes in flight; the store must not be used afterwards. Does not close the database. */
  close: () => Promise<void>
}
