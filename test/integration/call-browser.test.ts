import t from 'tap'
import http from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { Browser } from '../helpers/browser.js'
import { Daemon, addUser } from '../helpers/daemon.js'

// Real headless Chromium (Debian's /usr/bin/chromium) with a fake camera and
// microphone, driven by playwright-core; the page is the daemon's own web app
// at /call (which opens its "Call someone" dialog once signed in).

/** framesDecoded of the page's inbound video streams, summed (0 when none yet). */
async function framesDecoded (page: Page, where: 'loopback' | 'call'): Promise<number> {
  return await page.evaluate(async (where) => {
    const w = window as unknown as { loopback?: RTCPeerConnection, hailPage?: { call?: { peerConnection?: RTCPeerConnection } } }
    const pc = where === 'loopback' ? w.loopback : w.hailPage?.call?.peerConnection
    if (pc === undefined) return 0
    let frames = 0
    ;(await pc.getStats()).forEach((s: { type: string, kind?: string, framesDecoded?: number }) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded ?? 0
    })
    return frames
  }, where)
}

/** Polls until `check` holds; the bound only keeps a broken feature from hanging the test. */
async function until<T> (what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

t.test('headless Chromium decodes the video of a loopback call between two of its own peer connections', async (t) => {
  const server = http.createServer((_req, res) => { res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>loopback</title>') })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const browser = await Browser.launch()
  t.teardown(() => browser.close())
  const page = await browser.open(`http://127.0.0.1:${(server.address() as { port: number }).port}/`)
  await page.evaluate(async () => {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true })
    const a = new RTCPeerConnection()
    const b = new RTCPeerConnection()
    a.onicecandidate = (e) => { if (e.candidate !== null) void b.addIceCandidate(e.candidate) }
    b.onicecandidate = (e) => { if (e.candidate !== null) void a.addIceCandidate(e.candidate) }
    for (const track of stream.getTracks()) a.addTrack(track, stream)
    await a.setLocalDescription()
    await b.setRemoteDescription(a.localDescription!)
    await b.setLocalDescription()
    await a.setRemoteDescription(b.localDescription!)
    ;(window as unknown as { loopback: RTCPeerConnection }).loopback = b
  })
  const frames = await until('decoded loopback frames', async () => (await framesDecoded(page, 'loopback')) || false)
  t.ok(frames > 0, `framesDecoded ${frames}`)
})

t.test('two browsers call each other through a hail daemon with the app\'s /call page', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hail-call-browser-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await addUser(dir, 'alice', 'alice-password')
  await addUser(dir, 'bob', 'bob-password')
  // A port range of its own, so tests running beside it do not collide. The media listen address is the
  // default (0.0.0.0): media/bind-addresses.ts binds the announced 127.0.0.1 itself, so the ICE-lite
  // server's replies come from the address Chromium sent its checks to.
  // media/ fixes this test needs: header-extension ids of server offers reuse the device's
  // (media/header-extension-ids.ts), and a Chromium PLI (sender SSRC = one of its own streams) reaches
  // the source (media/peer.ts watchTransports).
  const portMin = 42000 + Math.floor(Math.random() * 60) * 100
  const { daemon, addresses } = await Daemon.start(['--data', dir, '--mqtt-port', '0', '--http-port', '0', '--host', '127.0.0.1',
    '--media-port-min', String(portMin), '--media-port-max', String(portMin + 99), '--media-announce', '127.0.0.1', '--log-level', 'debug'])
  t.teardown(() => daemon.stop())
  const base = `http://127.0.0.1:${addresses.http!.port}`

  const alice = await Browser.launch()
  t.teardown(() => alice.close())
  const bob = await Browser.launch()
  t.teardown(() => bob.close())
  // Keep every remote description a page was given, for the failure report.
  const keepRemote = (): void => {
    const proto = RTCPeerConnection.prototype
    const original = proto.setRemoteDescription
    const seen: string[] = []
    ;(window as unknown as { remoteDescriptions: string[] }).remoteDescriptions = seen
    proto.setRemoteDescription = function (this: RTCPeerConnection, d?: RTCSessionDescriptionInit) {
      seen.push(`${d?.type ?? '?'}\n${d?.sdp ?? ''}`)
      return original.call(this, d as RTCSessionDescriptionInit)
    } as typeof original
  }
  await alice.context.addInitScript(keepRemote)
  await bob.context.addInitScript(keepRemote)
  const pageA = await alice.open(`${base}/call`)
  const pageB = await bob.open(`${base}/call`)
  const pageLog = async (page: Page): Promise<string> => {
    const log = await page.textContent('#call-screen').catch(() => '') ?? ''
    // The peer connection's own view: states and the SDP lines that matter when media fails.
    const pc = await page.evaluate(() => {
      const pc = (window as unknown as { hailPage?: { call?: { peerConnection?: RTCPeerConnection } } }).hailPage?.call?.peerConnection
      if (pc === undefined) return 'no peer connection'
      const lines = (sdp: string | undefined): string => (sdp ?? '').split('\r\n').filter((l) => /^(m=|a=extmap|a=candidate|a=mid|a=group|a=rtcp-fb)/.test(l)).join('\n')
      return `connection ${pc.connectionState} ice ${pc.iceConnectionState} signaling ${pc.signalingState}\nlocal:\n${lines(pc.localDescription?.sdp)}\nremote:\n${lines(pc.remoteDescription?.sdp)}`
    }).catch((err: Error) => err.message)
    const rtp = await page.evaluate(async () => {
      const pc = (window as unknown as { hailPage?: { call?: { peerConnection?: RTCPeerConnection } } }).hailPage?.call?.peerConnection
      const out: string[] = []
      ;(await pc?.getStats())?.forEach((s: Record<string, unknown>) => {
        if (s.type !== 'inbound-rtp' && s.type !== 'outbound-rtp') return
        const keys = ['kind', 'mid', 'ssrc', 'packetsReceived', 'packetsLost', 'bytesReceived', 'framesReceived', 'framesDecoded', 'keyFramesDecoded', 'pliCount', 'firCount', 'nackCount', 'packetsSent', 'framesEncoded', 'keyFramesEncoded']
        out.push(`${String(s.type)} ${keys.filter((k) => s[k] !== undefined).map((k) => `${k}=${String(s[k])}`).join(' ')}`)
      })
      return out.join('\n')
    }).catch((err: Error) => err.message)
    const remotes = await page.evaluate(() => (window as unknown as { remoteDescriptions?: string[] }).remoteDescriptions?.map((d) =>
      d.split('\r\n').filter((l) => /^(offer|answer|m=|a=extmap|a=mid|a=group|a=sendrecv|a=sendonly|a=recvonly|a=inactive)/.test(l)).join('\n')).join('\n---\n') ?? '').catch(() => '')
    return `${log}\n${pc}\nrtp:\n${rtp}\nremote descriptions given:\n${remotes}`
  }
  const context = (): string => `\nalice console:\n${alice.console.join('\n')}\nbob console:\n${bob.console.join('\n')}\ndaemon:\n${daemon.lines.slice(-30).join('\n')}`
  const withLogs = async (err: unknown): Promise<Error> => {
    const logs = `\nalice page log:\n${await pageLog(pageA)}\nbob page log:\n${await pageLog(pageB)}`
    t.comment(`${logs}${context()}`)
    return err as Error
  }

  const logIn = async (page: Page, user: string, password: string): Promise<void> => {
    await page.fill('#login input[name=user]', user)
    await page.fill('#login input[name=password]', password)
    await page.click('#login button[type=submit]')
    // Signed in, and /call opened the dialog to place a call (the old page's form).
    await page.waitForSelector('#place', { timeout: 90_000 }).catch(async (err: Error) => { throw await withLogs(new Error(`${user} did not log in: ${err.message}`)) })
    t.equal(await page.$('#login'), null, `${user}: the sign-in form is gone once signed in`)
  }

  await logIn(pageA, 'alice', 'alice-password')
  await logIn(pageB, 'bob', 'bob-password')

  // Alice calls bob; bob's page rings and he answers.
  await pageA.fill('#place input[name=to]', 'bob')
  await pageA.click('#place button[type=submit]')
  await pageB.waitForSelector('#incoming', { timeout: 60_000 }).catch(async (err: Error) => { throw await withLogs(new Error(`bob's page never rang: ${err.message}`)) })
  t.equal(await pageB.textContent('#caller'), 'alice', 'bob sees who calls')
  await pageB.click('#answer')

  const decoded = async (who: string, page: Page): Promise<number> =>
    await until(`video decoded by ${who}`, async () => (await framesDecoded(page, 'call')) || false).catch(async (err: Error) => {
      await withLogs(err)
      return 0
    })
  const framesA = await decoded('alice', pageA)
  const framesB = await decoded('bob', pageB)
  t.ok(framesA > 0, `alice decoded ${framesA} frames of bob's video`)
  t.ok(framesB > 0, `bob decoded ${framesB} frames of alice's video`)
  // Figures for people (bench/ owns speed claims): what the page's quality table showed last.
  for (const [name, page] of [['alice', pageA], ['bob', pageB]] as const) {
    const stats = await page.evaluate(() => JSON.stringify((window as unknown as { hailPage: { lastStats?: unknown } }).hailPage.lastStats ?? null))
    t.comment(`${name} local stats: ${stats}`)
  }
  t.equal(await pageA.getAttribute('#call-state', 'data-state'), 'active')
  t.equal(await pageB.getAttribute('#call-state', 'data-state'), 'active')

  // Alice hangs up: both pages end the call, and its controls go with it.
  await pageA.click('#hangup')
  await pageA.waitForSelector('#call-screen', { state: 'detached', timeout: 30_000 })
  await pageB.waitForSelector('#call-screen', { state: 'detached', timeout: 30_000 })
  t.match(await pageA.textContent('#call-outcome'), /Call ended/)
  t.match(await pageB.textContent('#call-outcome'), /Call ended/)

  t.test('a wrong password gets a clear message on the page', async (t) => {
    // Another browser: alice's is signed in (its token is in its storage).
    const other = await Browser.launch()
    t.teardown(() => other.close())
    const page = await other.open(`${base}/call`)
    await page.fill('#login input[name=user]', 'alice')
    await page.fill('#login input[name=password]', 'wrong')
    await page.click('#login button[type=submit]')
    await page.waitForFunction(() => document.getElementById('status')!.textContent!.includes('Sign-in failed'), undefined, { timeout: 30_000 })
    t.match(await page.textContent('#status'), /HAIL_ERR_(NOT_AUTHORIZED|CONNECT)/)
    await page.close()
  })
})

t.test('the page serves only its own files', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hail-call-page-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const { daemon, addresses } = await Daemon.start(['--data', dir, '--mqtt-port', '0', '--http-port', '0', '--host', '127.0.0.1'])
  t.teardown(() => daemon.stop())
  const base = `http://127.0.0.1:${addresses.http!.port}`
  const get = async (path: string): Promise<{ status: number, type: string | null, body: string }> => {
    const res = await fetch(base + path)
    return { status: res.status, type: res.headers.get('content-type'), body: await res.text() }
  }
  const page = await get('/call')
  t.equal(page.status, 200)
  t.match(page.type, /text\/html/)
  // One bundle (web/build.mjs): the app, the SDK and mqtt.js's browser build.
  const script = /src="(\/assets\/app-[A-Z0-9]{8}\.js)"/.exec(page.body)?.[1]
  t.ok(script, 'the page names its hashed script')
  const bundle = await get(script!)
  t.match(bundle.type, /javascript/)
  t.match(bundle.body, /HailClientError/, 'the SDK is in it')
  t.match(bundle.body, /mqttjs_/, 'and mqtt.js')
  // Sent byte for byte (fetch would normalise the dots away before they reach the server).
  const raw = async (path: string): Promise<number> => await new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: addresses.http!.port, path }, (res) => { res.resume(); resolve(res.statusCode!) }).on('error', reject)
  })
  for (const path of ['/call/sdk/..%2f..%2fpackage.json', '/call/sdk/../../package.json', '/call/sdk/..', '/call/sdk/%2e%2e/%2e%2e/package.json',
    '/call/sdk/index.js.map', '/call/sdk/index.d.ts', '/call/package.json', '/call/vendor/mqtt.js',
    '/assets/..%2f..%2fpackage.json', '/assets/../../package.json', `${script!}.map`, '/assets/index.d.ts']) {
    t.equal(await raw(path), 404, `${path} is not served`)
  }
})
