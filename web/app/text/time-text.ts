/** Times and durations as a person reads them, in the browser's locale. */

const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' })
const day = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short' })
const full = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })

/** 14:05 today, "Tue 3 Mar" before. */
export function shortTime (ts: number, now = Date.now()): string {
  return sameDay(ts, now) ? clock.format(ts) : day.format(ts)
}

export function clockTime (ts: number): string {
  return clock.format(ts)
}

export function fullTime (ts: number): string {
  return full.format(ts)
}

/** "Today", "Yesterday", or the date: the separators between days of messages. */
export function dayLabel (ts: number, now = Date.now()): string {
  if (sameDay(ts, now)) return 'Today'
  if (sameDay(ts, now - 86_400_000)) return 'Yesterday'
  return day.format(ts)
}

export function sameDay (a: number, b: number): boolean {
  const x = new Date(a)
  const y = new Date(b)
  return x.getFullYear() === y.getFullYear() && x.getMonth() === y.getMonth() && x.getDate() === y.getDate()
}

/** 0:42, 12:05, 1:02:03 */
export function duration (ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = String(s % 60).padStart(2, '0')
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`
}

/** "last seen just now / 5 min ago / at 14:05 / on Tue 3 Mar". */
export function lastSeen (ts: number, now = Date.now()): string {
  const ago = now - ts
  if (ago < 60_000) return 'last seen just now'
  if (ago < 3_600_000) return `last seen ${Math.floor(ago / 60_000)} min ago`
  if (sameDay(ts, now)) return `last seen at ${clock.format(ts)}`
  return `last seen ${day.format(ts)}`
}
