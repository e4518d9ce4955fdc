import type { ShownMessage } from '../chat/conversation-state.js'
import { figure } from '../text/size-text.js'
import { clockTime } from '../text/time-text.js'
import { useStores } from './app-context.js'
import { Phone, Video } from './icons.js'
import { callSummary } from './message-text.js'

interface Track { kind: string, source: string, lossRate: number, jitterMs: number, rttMs: number | null, bitrateKbps: number, bytes?: number }
interface CallBody {
  media?: { video?: boolean }
  reason?: string
  durationMs?: number
  from?: string
  mode?: string
  participants?: Array<{ device: string }>
  quality?: { tracks: Track[] } | null
}

/** The record the server writes when a call ends: what kind, how long, how it ended, and its media figures. */
export function CallRecord ({ message: m }: { message: ShownMessage }) {
  const { chat } = useStores()
  const body = m.body as CallBody
  const tracks = body.quality?.tracks ?? []
  const people = new Set((body.participants ?? []).map((p) => p.device.split('/')[0]).filter((u) => u !== chat.me))
  // The mean over the call (bytes over its length); the last sample's rate is often 0 as the media stops.
  const kbps = (t: Track): number => (body.durationMs ?? 0) > 0 && t.bytes !== undefined ? t.bytes * 8 / body.durationMs! : t.bitrateKbps
  const video = tracks.filter((t) => t.kind === 'video')
  const audio = tracks.filter((t) => t.kind === 'audio')
  const mean = (ts: Track[], f: (t: Track) => number): number => ts.reduce((a, t) => a + f(t), 0) / Math.max(1, ts.length)
  const rtts = tracks.map((t) => t.rttMs).filter((r): r is number => r !== null)
  return (
    <div class='call-record' data-seq={m.seq} data-kind='call'>
      <span class='call-icon'>{body.media?.video === true ? <Video /> : <Phone />}</span>
      <div>
        <p><strong>{callSummary(body, chat.me)}</strong> <span class='muted small'>{clockTime(m.ts)}</span></p>
        {people.size > 0 && <p class='muted small'>With {[...people].join(', ')}{body.mode === 'p2p' ? ' · direct' : ''}</p>}
        {tracks.length > 0 && (
          <p class='muted small call-figures'>
            {video.length > 0 && <span>video {figure(mean(video, kbps), 0)} kbps</span>}
            {audio.length > 0 && <span>audio {figure(mean(audio, kbps), 0)} kbps</span>}
            <span>loss {figure(100 * mean(tracks, (t) => t.lossRate), 1)}%</span>
            <span>jitter {figure(mean(tracks, (t) => t.jitterMs), 1)} ms</span>
            {rtts.length > 0 && <span>RTT {figure(rtts.reduce((a, b) => a + b, 0) / rtts.length, 0)} ms</span>}
          </p>
        )}
      </div>
    </div>
  )
}
