import { signal } from '@preact/signals'

/** The app's path: `/` (chat), `/call` (chat with the call dialog), `/dashboard`. */
export const route = signal(location.pathname)

addEventListener('popstate', () => { route.value = location.pathname })

export function navigate (path: string): void {
  if (path === location.pathname) return
  history.pushState(null, '', path)
  route.value = path
}
