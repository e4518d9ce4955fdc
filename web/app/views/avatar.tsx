/** A round badge with a user's (or group's) initials, coloured from the name, and a presence dot. */
const COLOURS = ['#1d4ed8', '#047857', '#b45309', '#7c3aed', '#be123c', '#0e7490', '#4d7c0f', '#a21caf']

export function Avatar ({ name, presence, size = 40 }: { name: string, presence?: string | undefined, size?: number }) {
  let hash = 0
  for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)!) >>> 0
  const initials = name.replace(/^[cg]:/, '').split(/[\s._-]+/).filter(Boolean).slice(0, 2).map((w) => w[0]!.toUpperCase()).join('') || '?'
  return (
    <span class='avatar' style={{ width: `${size}px`, height: `${size}px`, background: COLOURS[hash % COLOURS.length] }} aria-hidden='true'>
      {initials}
      {presence !== undefined && <span class={`dot ${presence}`} data-presence={presence} />}
    </span>
  )
}
