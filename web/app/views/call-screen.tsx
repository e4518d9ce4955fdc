import type { ComponentChild } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import type { ActiveCall } from '../calls/call-store.js'
import type { QualitySample } from '../calls/quality-sampler.js'
import { figure } from '../text/size-text.js'
import { duration } from '../text/time-text.js'
import { useStores } from './app-context.js'
import { Avatar } from './avatar.js'
import { Chart, HangUp, Mic, MicOff, Video, VideoOff } from './icons.js'
import { TimeChart } from './time-chart.js'

/** The call on screen: a tile per participant, the controls, and the call's quality as small graphs. */
export function CallScreen () {
  const { calls, chat } = useStores()
  const a = calls.active.value
  const [graphs, setGraphs] = useState(false)
  if (a === null) return null
  const last = a.quality.at(-1)
  return (
    <section class='call-screen' id='call-screen' aria-label={`Call with ${a.title}`} data-state={a.state}>
      <header class='call-head'>
        <div>
          <h2>{a.title}</h2>
          <p id='call-state' data-state={a.state === 'placing' ? 'ringing' : a.state} aria-live='polite'>{stateText(a)}</p>
        </div>
        {a.error !== undefined && <p class='call-error' role='alert'>{a.error}</p>}
      </header>
      <div class={`tiles n${Math.min(4, a.remotes.length + 1)}`}>
        {a.remotes.map((t) => <Tile key={t.id} stream={t.stream} label={t.label} id={t.id} />)}
        <Tile stream={a.local} label={`${chat.me} (you)`} local cameraOff={a.cameraOff || !a.media.video} />
      </div>
      {graphs && <QualityGraphs samples={a.quality} />}
      <footer class='call-controls'>
        <button
          type='button' class={`round${a.muted ? ' off' : ''}`} id='mute' aria-pressed={a.muted} aria-label={a.muted ? 'Unmute' : 'Mute'} title={a.muted ? 'Unmute' : 'Mute'}
          onClick={() => calls.toggleMute()}
        >{a.muted ? <MicOff /> : <Mic />}
        </button>
        {a.media.video && (
          <button
            type='button' class={`round${a.cameraOff ? ' off' : ''}`} id='camera' aria-pressed={a.cameraOff} aria-label={a.cameraOff ? 'Camera on' : 'Camera off'} title={a.cameraOff ? 'Camera on' : 'Camera off'}
            onClick={() => calls.toggleCamera()}
          >{a.cameraOff ? <VideoOff /> : <Video />}
          </button>
        )}
        <button type='button' class='round danger' id='hangup' aria-label='Hang up' title='Hang up' onClick={() => { void calls.hangUp() }}><HangUp /></button>
        <button
          type='button' class={`round${graphs ? ' on' : ''}`} id='quality-toggle' aria-pressed={graphs} aria-label='Call quality' title='Call quality'
          onClick={() => setGraphs(!graphs)}
        ><Chart />
        </button>
        {last !== undefined && (
          <span class='quality-line small' id='quality-line'>
            {figure(last.receiveKbps, 0)} kbps in · {figure(last.lossPct, 1)}% loss{last.rttMs !== null ? ` · ${figure(last.rttMs, 0)} ms` : ''}
          </span>
        )}
      </footer>
    </section>
  )
}

function stateText (a: ActiveCall): ComponentChild {
  switch (a.state) {
    case 'placing': return 'Calling…'
    // Placed: the server rings every device of the callees now (the caller gets no event per device).
    case 'ringing': return a.call === undefined ? 'Calling…' : 'Ringing…'
    case 'incoming':
    case 'connecting': return 'Connecting…'
    case 'active': return a.answeredAt === undefined ? 'Connected' : <Timer since={a.answeredAt} />
    case 'ended': return 'Call ended'
  }
}

function Timer ({ since }: { since: number }) {
  const [now, setNow] = useState(Date.now())
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000)
    return () => clearInterval(timer)
  }, [])
  return <span>{duration(now - since)}</span>
}

function Tile ({ stream, label, local = false, cameraOff = false, id }: { stream: MediaStream | undefined, label: string, local?: boolean, cameraOff?: boolean, id?: string }) {
  const ref = useRef<HTMLVideoElement>(null)
  const [hasVideo, setHasVideo] = useState(false)
  useEffect(() => {
    const video = ref.current
    if (video === null) return
    video.srcObject = stream ?? null
    const check = (): void => setHasVideo((stream?.getVideoTracks().length ?? 0) > 0)
    check()
    stream?.addEventListener('addtrack', check)
    stream?.addEventListener('removetrack', check)
    return () => {
      stream?.removeEventListener('addtrack', check)
      stream?.removeEventListener('removetrack', check)
    }
  }, [stream])
  const showVideo = hasVideo && !cameraOff
  return (
    <figure class={`tile${local ? ' local' : ''}`} data-stream={id} data-label={label}>
      <video ref={ref} autoplay playsInline muted={local} class={showVideo ? '' : 'hidden-video'} />
      {!showVideo && <div class='tile-avatar'><Avatar name={label} size={72} /></div>}
      <figcaption>{label}</figcaption>
    </figure>
  )
}

/** The last two minutes of this device's view of the call: bitrate both ways, loss, jitter, round-trip time. */
function QualityGraphs ({ samples }: { samples: QualitySample[] }) {
  const times = samples.map((s) => s.t)
  const last = samples.at(-1)
  const graphs = [
    {
      label: 'Bitrate',
      unit: ' kbps',
      now: last === undefined ? '–' : `↓${figure(last.receiveKbps, 0)} ↑${figure(last.sendKbps, 0)} kbps`,
      series: [
        { label: 'in', stroke: '#1d4ed8', values: samples.map((s) => s.receiveKbps) },
        { label: 'out', stroke: '#047857', values: samples.map((s) => s.sendKbps) }
      ]
    },
    { label: 'Loss', unit: '%', now: last === undefined ? '–' : `${figure(last.lossPct, 1)}%`, series: [{ label: 'loss', stroke: '#b91c1c', values: samples.map((s) => s.lossPct) }] },
    { label: 'Jitter', unit: ' ms', now: last === undefined ? '–' : `${figure(last.jitterMs, 1)} ms`, series: [{ label: 'jitter', stroke: '#7c3aed', values: samples.map((s) => s.jitterMs) }] },
    { label: 'Round trip', unit: ' ms', now: last?.rttMs == null ? '–' : `${figure(last.rttMs, 0)} ms`, series: [{ label: 'RTT', stroke: '#b45309', values: samples.map((s) => s.rttMs) }] }
  ]
  return (
    <div class='quality-graphs' id='quality-graphs'>
      {graphs.map((g) => (
        <div class='graph' key={g.label}>
          <p class='small'><span>{g.label}</span> <strong>{g.now}</strong></p>
          <TimeChart times={times} series={g.series} height={56} yMin={0} unit={g.unit} label={`${g.label}: ${g.now}`} />
        </div>
      ))}
    </div>
  )
}
