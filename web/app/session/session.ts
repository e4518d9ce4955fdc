import { signal } from '@preact/signals'

/** What the server says about the signed-in user (web/session-api.ts). */
export interface Session {
  user: string
  token: string
  admin: boolean
  /** ms since the epoch */
  expires: number
  limits: { maxFileBytes: number }
}

/** The signed-in user; null while signed out. */
export const session = signal<Session | null>(null)
/** Restoring a stored session on page load. */
export const restoring = signal(true)

/**
 * Only the token (and the user name it belongs to) is kept, in
 * localStorage, so new tabs are signed in too; never the password.
 */
const STORE_KEY = 'hail.session'

export class SignInError extends Error {
  readonly code: string
  constructor (code: string, message: string) {
    super(message)
    this.code = code
  }
}

async function call (path: string, init: RequestInit): Promise<Record<string, unknown>> {
  let res: Response
  try {
    res = await fetch(path, init)
  } catch {
    throw new SignInError('HAIL_ERR_CONNECT', 'the server cannot be reached')
  }
  const body = await res.json().catch(() => ({})) as Record<string, unknown> & { error?: { code?: string, message?: string } }
  if (!res.ok) throw new SignInError(body.error?.code ?? `HTTP_${res.status}`, body.error?.message ?? `the server answered ${res.status}`)
  return body
}

function keep (s: Session): void {
  session.value = s
  localStorage.setItem(STORE_KEY, JSON.stringify({ user: s.user, token: s.token, expires: s.expires }))
  scheduleRenewal(s)
}

export async function signIn (user: string, password: string): Promise<Session> {
  const body = await call('/api/session', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: user.trim().toLowerCase(), password })
  })
  const s = body as unknown as Session
  keep(s)
  return s
}

/** A stored token: checked with the server (it may have expired, or been revoked by a password change). */
export async function restore (): Promise<void> {
  try {
    const stored = JSON.parse(localStorage.getItem(STORE_KEY) ?? 'null') as { user?: string, token?: string, expires?: number } | null
    if (typeof stored?.token !== 'string' || (stored.expires ?? 0) <= Date.now()) {
      localStorage.removeItem(STORE_KEY)
      return
    }
    const info = await call('/api/session', { headers: { authorization: `Bearer ${stored.token}` } }).catch((err: unknown) => {
      if (err instanceof SignInError && err.code === 'HAIL_ERR_NOT_AUTHORIZED') localStorage.removeItem(STORE_KEY)
      return undefined
    })
    if (info !== undefined) keep({ ...(info as unknown as Omit<Session, 'token'>), token: stored.token })
  } finally {
    restoring.value = false
  }
}

export function signOut (): void {
  localStorage.removeItem(STORE_KEY)
  clearTimeout(renewTimer)
  session.value = null
}

let renewTimer: ReturnType<typeof setTimeout> | undefined

/** Halfway through its life a token is traded for a fresh one, so an open tab stays signed in. */
function scheduleRenewal (s: Session): void {
  clearTimeout(renewTimer)
  const wait = Math.max(60_000, (s.expires - Date.now()) / 2)
  renewTimer = setTimeout(() => {
    call('/api/session/renew', { method: 'POST', headers: { authorization: `Bearer ${s.token}` } })
      .then((body) => { if (session.value?.token === s.token) keep(body as unknown as Session) })
      .catch(() => scheduleRenewal(s))
  }, Math.min(wait, 2 ** 31 - 1))
}

/** Another tab signed out (or in as someone else): follow it. */
export function followOtherTabs (): void {
  addEventListener('storage', (event) => {
    if (event.key !== STORE_KEY) return
    const stored = JSON.parse(event.newValue ?? 'null') as { user?: string, token?: string } | null
    if (stored === null) {
      if (session.value !== null) signOut()
    } else if (session.value !== null && stored.user !== session.value.user) {
      signOut()
    } else if (session.value !== null && typeof stored.token === 'string') {
      session.value = { ...session.value, token: stored.token }
    }
  })
}

/** The device this tab is: claimed once per page load by claimDevice(). */
export const device = signal<{ name: string, persistent: boolean }>({ name: 'web', persistent: false })

/**
 * Each tab is a device of its own, with a name that stays across reloads
 * so the broker keeps its session (and its delivered receipts, which come
 * from the device's acknowledgements of its queue): `web-{browser}-{slot}`,
 * where the slot is the lowest one no other open tab of this browser holds
 * (a Web Lock, let go when the tab closes). Two tabs, or a duplicated one,
 * never share a device. Without Web Locks (a page not served from a secure
 * origin) a tab gets a fresh name and a clean session.
 */
export async function claimDevice (): Promise<void> {
  const random = (): string => Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => (b % 36).toString(36)).join('')
  let browser = localStorage.getItem(BROWSER_KEY)
  if (browser === null || !/^[a-z0-9]{6}$/.test(browser)) {
    browser = random()
    localStorage.setItem(BROWSER_KEY, browser)
  }
  const locks = (navigator as Navigator & { locks?: LockManager }).locks
  if (locks === undefined) {
    device.value = { name: `web-${random()}`, persistent: false }
    return
  }
  for (let slot = 1; slot <= MAX_SLOTS; slot++) {
    const held = await new Promise<boolean>((resolve) => {
      void locks.request(`hail-device-${slot}`, { ifAvailable: true }, async (lock) => {
        resolve(lock !== null)
        // Held for the life of the page.
        if (lock !== null) await new Promise(() => {})
      })
    })
    if (held) {
      device.value = { name: `web-${browser}-${slot}`, persistent: true }
      return
    }
  }
  device.value = { name: `web-${random()}`, persistent: false }
}

const BROWSER_KEY = 'hail.browser'
const MAX_SLOTS = 64
