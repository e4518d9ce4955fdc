import type { JSX } from 'preact'

/** Line icons drawn in the text colour; decorative unless given a title (the button says what it does). */
function Icon ({ d, size = 20, title }: { d: string | string[], size?: number, title?: string }): JSX.Element {
  return (
    <svg
      class='icon' width={size} height={size} viewBox='0 0 24 24' fill='none' stroke='currentColor' stroke-width='2'
      stroke-linecap='round' stroke-linejoin='round' aria-hidden={title === undefined ? 'true' : undefined} role={title === undefined ? undefined : 'img'}
    >
      {title !== undefined && <title>{title}</title>}
      {(Array.isArray(d) ? d : [d]).map((p) => <path key={p} d={p} />)}
    </svg>
  )
}

export const Phone = () => <Icon d='M22 16.9v3a2 2 0 0 1-2.2 2 19.8 19.8 0 0 1-8.6-3.1 19.5 19.5 0 0 1-6-6A19.8 19.8 0 0 1 2.1 4.2 2 2 0 0 1 4.1 2h3a2 2 0 0 1 2 1.7c.1.9.4 1.8.7 2.7a2 2 0 0 1-.5 2.1L8 9.8a16 16 0 0 0 6 6l1.3-1.3a2 2 0 0 1 2.1-.4c.9.3 1.8.6 2.7.7a2 2 0 0 1 1.7 2z' />
export const Video = () => <Icon d={['M23 7l-7 5 7 5V7z', 'M3 5h11a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H3a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2z']} />
export const VideoOff = () => <Icon d={['M16 16v1a2 2 0 0 1-2 2H3a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2h2m5.7 0H14a2 2 0 0 1 2 2v3.3l1 1L23 7v10', 'M1 1l22 22']} />
export const Mic = () => <Icon d={['M12 1a3 3 0 0 0-3 3v8a3 3 0 0 0 6 0V4a3 3 0 0 0-3-3z', 'M19 10v2a7 7 0 0 1-14 0v-2', 'M12 19v4', 'M8 23h8']} />
export const MicOff = () => <Icon d={['M1 1l22 22', 'M9 9v3a3 3 0 0 0 5.1 2.1M15 9.3V4a3 3 0 0 0-5.9-.6', 'M17 16.9A7 7 0 0 1 5 12v-2m14 0v2c0 .8-.1 1.5-.4 2.2', 'M12 19v4', 'M8 23h8']} />
export const HangUp = () => <Icon d='M10.7 13.3a16 16 0 0 0 3.4 2.6l1.3-1.3a2 2 0 0 1 2.1-.4c.9.3 1.8.6 2.7.7a2 2 0 0 1 1.7 2v3a2 2 0 0 1-2.2 2A19.8 19.8 0 0 1 2.1 4.2 2 2 0 0 1 4.1 2h3a2 2 0 0 1 2 1.7c.1.9.4 1.8.7 2.7a2 2 0 0 1-.5 2.1L8 9.8M23 1L1 23' />
export const Send = () => <Icon d={['M22 2L11 13', 'M22 2l-7 20-4-9-9-4 20-7z']} />
export const Attach = () => <Icon d='M21.4 11.1l-9.2 9.2a6 6 0 0 1-8.5-8.5l9.2-9.2a4 4 0 0 1 5.7 5.7l-9.2 9.2a2 2 0 0 1-2.8-2.8l8.5-8.5' />
export const Plus = () => <Icon d={['M12 5v14', 'M5 12h14']} />
export const Back = () => <Icon d='M15 18l-6-6 6-6' />
export const More = () => <Icon d={['M12 13a1 1 0 1 0 0-2 1 1 0 0 0 0 2z', 'M19 13a1 1 0 1 0 0-2 1 1 0 0 0 0 2z', 'M5 13a1 1 0 1 0 0-2 1 1 0 0 0 0 2z']} />
export const Info = () => <Icon d={['M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20z', 'M12 16v-4', 'M12 8h.01']} />
export const Close = () => <Icon d={['M18 6L6 18', 'M6 6l12 12']} />
export const Download = () => <Icon d={['M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4', 'M7 10l5 5 5-5', 'M12 15V3']} />
export const SignOutIcon = () => <Icon d={['M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4', 'M16 17l5-5-5-5', 'M21 12H9']} />
export const Chart = () => <Icon d={['M18 20V10', 'M12 20V4', 'M6 20v-6']} />
export const Smile = () => <Icon d={['M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20z', 'M8 14s1.5 2 4 2 4-2 4-2', 'M9 9h.01', 'M15 9h.01']} />

/** The ticks of one's own messages; the title says the state for screen readers and on hover. */
export function Ticks ({ state }: { state: 'sending' | 'failed' | 'sent' | 'delivered' | 'read' }) {
  const title = { sending: 'Sending', failed: 'Not sent', sent: 'Sent', delivered: 'Delivered', read: 'Read' }[state]
  if (state === 'sending') return <span class='ticks sending' data-tick={state}><Icon d={['M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20z', 'M12 6v6l4 2']} size={14} title={title} /></span>
  if (state === 'failed') return <span class='ticks failed' data-tick={state}><Icon d={['M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20z', 'M12 8v4', 'M12 16h.01']} size={14} title={title} /></span>
  const two = state !== 'sent'
  return (
    <span class={`ticks ${state}`} data-tick={state}>
      <Icon d={two ? ['M2 12.5l4.5 4.5L15 8', 'M9.5 15.5l1.5 1.5L22 6'] : ['M5 12.5l4.5 4.5L19 7']} size={16} title={title} />
    </span>
  )
}

export function Logo () {
  return (
    <svg class='logo' width='32' height='32' viewBox='0 0 32 32' aria-hidden='true'>
      <rect width='32' height='32' rx='8' fill='#1d4ed8' />
      <path d='M9 8v16M23 8v16M9 16h14' stroke='#fff' stroke-width='3.2' stroke-linecap='round' />
    </svg>
  )
}
