// The call page: plain ES modules the browser loads as they are (no bundler).
// The SDK is Hail's compiled client (served under /call/sdk/); mqtt.js comes
// through the page's import map. `window.hailPage` exposes the state for tests.
import { HailClient } from '/call/sdk/index.js'

const $ = (id) => document.getElementById(id)
const page = { client: undefined, call: undefined, stream: undefined, timer: undefined }
window.hailPage = page

function log (text) {
  const line = `${new Date().toISOString().slice(11, 23)} ${text}\n`
  $('log').textContent = (line + $('log').textContent).slice(0, 20000)
}

function status (text) {
  $('status').textContent = text
  if (text !== '') log(text)
}

function show (id, visible) {
  $(id).hidden = !visible
}

// ---- login ---------------------------------------------------------------

const login = $('login')
login.url.value = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/mqtt`
login.device.value = localStorage.getItem('hail.device') ?? `web-${Math.random().toString(36).slice(2, 8)}`

login.addEventListener('submit', async (event) => {
  event.preventDefault()
  status('')
  const form = login
  localStorage.setItem('hail.device', form.device.value)
  const options = { url: form.url.value, user: form.user.value.trim(), device: form.device.value.trim(), clean: true, logger: (level, message) => { if (level !== 'debug') log(`${level}: ${message}`) } }
  if (form.token.value !== '') options.token = form.token.value
  else options.password = form.password.value
  try {
    const client = new HailClient(options)
    client.on('error', (err) => log(`error ${err.code}: ${err.message}`))
    client.on('disconnect', () => status('connection lost; reconnecting…'))
    client.on('connect', () => status(''))
    client.calls.on('incoming', (call) => onIncoming(call))
    await client.connect()
    page.client = client
    $('me').textContent = `${client.user}/${client.device}`
    show('login', false)
    show('dial', true)
    log('logged in')
  } catch (err) {
    status(`login failed: ${err.code ?? ''} ${err.message}`)
  }
})

$('logout').addEventListener('click', async () => {
  await page.call?.hangup().catch(() => {})
  await page.client?.close()
  page.client = undefined
  show('dial', false)
  show('login', true)
})

// ---- placing, answering, joining ------------------------------------------

/** The camera and microphone, as the call asks for them. */
async function localMedia (media) {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: media.audio, video: media.video })
  page.stream = stream
  $('local').srcObject = stream
  return stream
}

/** The SDK's peer factory: a browser RTCPeerConnection with this device's tracks. */
function peerWith (stream) {
  return ({ iceServers }) => {
    const pc = new RTCPeerConnection({ iceServers })
    for (const track of stream.getTracks()) pc.addTrack(track, stream)
    return pc
  }
}

$('place').addEventListener('submit', async (event) => {
  event.preventDefault()
  const form = event.target
  const media = { audio: form.audio.checked, video: form.video.checked }
  const to = form.to.value.trim()
  const conv = form.conv.value.trim()
  try {
    const stream = await localMedia(media)
    const options = { media, mode: form.mode.value, peer: peerWith(stream) }
    if (to !== '') options.to = to
    else options.conv = conv
    const call = await page.client.calls.place(options)
    track(call)
  } catch (err) {
    status(`call failed: ${err.code ?? ''} ${err.message}`)
    stopMedia()
  }
})

$('join').addEventListener('submit', async (event) => {
  event.preventDefault()
  try {
    const media = { audio: true, video: true }
    const stream = await localMedia(media)
    track(await page.client.calls.join(event.target.callId.value.trim(), { media, peer: peerWith(stream) }))
  } catch (err) {
    status(`join failed: ${err.code ?? ''} ${err.message}`)
    stopMedia()
  }
})

function onIncoming (call) {
  if (page.call !== undefined) return // busy here: the other device or the timeout decides
  page.incoming = call
  $('caller').textContent = call.from
  $('incoming-media').textContent = [call.media.audio ? 'audio' : '', call.media.video ? 'video' : ''].filter(Boolean).join(' + ')
  show('incoming', true)
  log(`incoming call ${call.id} from ${call.from}`)
  call.once('ended', ({ reason }) => {
    if (page.incoming === call) page.incoming = undefined
    if (page.call !== call) show('incoming', false)
    log(`call ${call.id} ended before it was answered here: ${reason}`)
  })
}

$('answer').addEventListener('click', async () => {
  const call = page.incoming
  if (call === undefined) return
  page.incoming = undefined
  show('incoming', false)
  try {
    const stream = await localMedia(call.media)
    track(call)
    await call.answer({ peer: peerWith(stream) })
  } catch (err) {
    status(`answer failed: ${err.code ?? ''} ${err.message}`)
  }
})

$('reject').addEventListener('click', async () => {
  const call = page.incoming
  page.incoming = undefined
  show('incoming', false)
  await call?.reject().catch((err) => status(`reject failed: ${err.message}`))
})

$('hangup').addEventListener('click', async () => {
  await page.call?.hangup().catch((err) => status(`hangup failed: ${err.message}`))
})

// ---- the call on screen -----------------------------------------------------

/** Shows a call and follows its events until it ends. */
function track (call) {
  page.call = call
  show('call', true)
  $('call-id').textContent = call.id
  $('call-state').textContent = call.state
  call.on('state', (state) => { $('call-state').textContent = state })
  call.on('ringing', () => log('ringing'))
  call.on('accepted', ({ by }) => log(`accepted by ${by ?? '?'}`))
  call.on('participant-joined', ({ participant }) => log(`${participant} joined`))
  call.on('participant-left', ({ participant }) => log(`${participant} left`))
  call.on('error', (err) => log(`call error ${err.code}: ${err.message}`))
  call.on('track', ({ track, streams }) => addRemote(track, streams))
  call.on('stats', (stats) => showServerStats(stats))
  call.on('ended', ({ reason, by }) => {
    log(`call ended: ${reason}${by === undefined ? '' : ` (${by})`}`)
    $('call-state').textContent = `ended (${reason})`
    clearInterval(page.timer)
    page.timer = undefined
    page.call = undefined
    stopMedia()
    $('remotes').replaceChildren()
  })
  clearInterval(page.timer)
  page.timer = setInterval(() => { showLocalStats(call).catch(() => {}) }, 1000)
}

function addRemote (track, streams) {
  const stream = streams[0] ?? new MediaStream([track])
  let video = document.querySelector(`video[data-stream="${CSS.escape(stream.id)}"]`)
  if (video === null) {
    const figure = document.createElement('figure')
    video = document.createElement('video')
    video.autoplay = true
    video.playsInline = true
    video.dataset.stream = stream.id
    video.srcObject = stream
    const caption = document.createElement('figcaption')
    // The relay names each stream after its sender's client id ({user}/{device}).
    caption.textContent = streams[0]?.id ?? 'remote'
    figure.append(video, caption)
    $('remotes').append(figure)
    stream.addEventListener('removetrack', () => { if (stream.getTracks().length === 0) figure.remove() })
  }
  log(`remote ${track.kind} track`)
}

function stopMedia () {
  for (const t of page.stream?.getTracks() ?? []) t.stop()
  page.stream = undefined
  $('local').srcObject = null
}

function cell (row, value) {
  const td = document.createElement('td')
  td.textContent = value === undefined || value === null ? '–' : String(value)
  row.append(td)
}

async function showLocalStats (call) {
  if (call.peerConnection === undefined || call.state === 'ended') return
  const s = await call.localStats()
  page.lastStats = s
  $('path').textContent = `RTT ${s.rttMs ?? '–'} ms · estimated outgoing ${s.availableOutgoingKbps ?? '–'} kbps`
  const rows = s.tracks.map((t) => {
    const row = document.createElement('tr')
    for (const v of [`${t.kind} ${t.direction}`, t.bitrateKbps, t.packets, t.packetsLost, t.jitterMs,
      t.direction === 'in' ? t.framesDecoded : t.framesEncoded,
      t.frameWidth === undefined ? undefined : `${t.frameWidth}×${t.frameHeight}`, t.framesPerSecond, t.qualityLimitationReason]) cell(row, v)
    return row
  })
  $('local-quality').tBodies[0].replaceChildren(...rows)
}

function showServerStats (stats) {
  const rows = []
  for (const peer of stats.peers) {
    for (const t of peer.tracks) {
      const row = document.createElement('tr')
      for (const v of [peer.peerId, `${t.kind} ${t.direction} (${t.source})`, t.bitrateKbps, t.packets, Math.round(t.lossRate * 1000) / 10, t.jitterMs, t.rttMs]) cell(row, v)
      rows.push(row)
    }
  }
  $('server-quality').tBodies[0].replaceChildren(...rows)
}
