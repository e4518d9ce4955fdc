import t from 'tap'
import type { Page } from 'playwright-core'
import { AppUser, startWebDaemon } from '../helpers/web-app.js'

// Calls in the web app, in real Chromium with fake cameras and microphones
// (a test pattern and a beep), through the daemon's media relay: a 1:1 video
// call that rings on every device of the callee, then a call of three.

const TEST = 'web-calls'

/** Inbound video streams of the page's call that have decoded frames, and the frames of each. */
async function decoded (page: Page): Promise<number[]> {
  return await page.evaluate(async () => {
    const pc = (window as unknown as { hailPage?: { call?: { peerConnection?: RTCPeerConnection } } }).hailPage?.call?.peerConnection
    if (pc === undefined) return []
    const frames: number[] = []
    ;(await pc.getStats()).forEach((s: { type: string, kind?: string, framesDecoded?: number }) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video' && (s.framesDecoded ?? 0) > 0) frames.push(s.framesDecoded!)
    })
    return frames
  })
}

/** Polls until the page decodes video from `streams` others; the bound keeps a broken call from hanging the test. */
async function untilDecoding (page: Page, streams: number, who: string): Promise<number[]> {
  const deadline = Date.now() + 90_000
  for (;;) {
    const frames = await decoded(page)
    if (frames.length >= streams) return frames
    if (Date.now() > deadline) throw new Error(`${who} decoded video from ${frames.length} of ${streams} participants`)
    await page.waitForTimeout(500)
  }
}

const web = await startWebDaemon(t, { users: ['alice', 'bob', 'carol'] })
const alice = await AppUser.open(t, web.base, 'alice')
const bob = await AppUser.open(t, web.base, 'bob')
const carol = await AppUser.open(t, web.base, 'carol')
await alice.signIn()
await bob.signIn()
await carol.signIn()

t.test('a 1:1 video call rings on every device of the callee, connects both ways, and leaves its record', async (t) => {
  const bobTab2 = await bob.newTab(web.base)
  await bobTab2.waitForSelector('#me')
  await alice.page.click('#new-menu')
  await alice.page.click('text=New chat')
  await alice.page.fill('#form-direct input[name=to]', 'bob')
  await alice.page.click('#form-direct button[type=submit]')
  await alice.page.waitForSelector('#conv-title:text-is("bob")')
  await alice.page.click('#video-call')
  // The caller sees that it rings.
  await alice.page.waitForSelector('#call-state:text-matches("Calling|Ringing")')
  await bob.page.waitForSelector('#incoming', { timeout: 60_000 })
  await bobTab2.waitForSelector('#incoming', { timeout: 60_000 })
  t.equal(await bob.page.textContent('#caller'), 'alice', 'bob sees who calls')
  t.equal(await bobTab2.textContent('#caller'), 'alice', 'on his other device too')
  await alice.page.waitForSelector('#call-state:text-is("Ringing…")')
  await alice.shoot(TEST, '01-ringing')
  await bob.shoot(TEST, '01-ringing')

  await bob.page.click('#answer')
  // The other device stops ringing and says so, without a call of its own.
  await bobTab2.waitForSelector('#incoming', { state: 'detached', timeout: 30_000 })
  await bobTab2.waitForSelector('#call-outcome:has-text("Answered on another device")', { timeout: 30_000 })
  t.equal(await bobTab2.$('#call-screen'), null, 'no call screen on the device that did not answer')

  const framesA = await untilDecoding(alice.page, 1, 'alice')
  const framesB = await untilDecoding(bob.page, 1, 'bob')
  t.ok(framesA[0]! > 0, `alice decoded ${framesA[0]} frames of bob's video`)
  t.ok(framesB[0]! > 0, `bob decoded ${framesB[0]} frames of alice's video`)
  for (const page of [alice.page, bob.page]) await page.waitForSelector('#call-state[data-state=active]', { timeout: 30_000 })
  t.equal(await alice.page.getAttribute('.tile[data-stream] ', 'data-label'), 'bob', 'the tile is captioned with the other person')
  // Live quality as graphs.
  await alice.page.click('#quality-toggle')
  await alice.page.waitForSelector('#quality-graphs canvas')
  await alice.page.waitForTimeout(3000)
  t.match(await alice.page.textContent('#quality-graphs'), /Bitrate.*kbps/)
  await alice.shoot(TEST, '02-in-call')
  await bob.shoot(TEST, '02-in-call')
  // Mute and camera.
  await bob.page.click('#mute')
  t.equal(await bob.page.getAttribute('#mute', 'aria-pressed'), 'true')
  t.equal(await bob.page.evaluate(() => (window as unknown as { hailApp: { calls: { active: { value: { local: MediaStream } } } } }).hailApp.calls.active.value.local.getAudioTracks().every((tr) => !tr.enabled)), true, 'the microphone track is off')
  await bob.page.click('#camera')
  t.equal(await bob.page.evaluate(() => (window as unknown as { hailApp: { calls: { active: { value: { local: MediaStream } } } } }).hailApp.calls.active.value.local.getVideoTracks().every((tr) => !tr.enabled)), true, 'the camera track is off')

  await alice.page.click('#hangup')
  for (const page of [alice.page, bob.page]) {
    await page.waitForSelector('#call-screen', { state: 'detached', timeout: 30_000 })
    t.match(await page.textContent('#call-outcome'), /Call ended/)
  }
  // The record, with its figures, in the conversation on both sides.
  await bob.openConversation('alice')
  for (const page of [alice.page, bob.page]) {
    await page.waitForSelector('.call-record:has-text("Video call")', { timeout: 30_000 })
    t.match(await page.textContent('.call-record'), /Video call · \d+:\d\d/)
    t.match(await page.textContent('.call-record'), /kbps.*loss.*jitter/)
  }
  await alice.shoot(TEST, '03-record')
  await bobTab2.close()
})

t.test('a call of three: each page decodes the video of the two others', async (t) => {
  await alice.page.click('#new-menu')
  await alice.page.click('text=New group')
  await alice.page.fill('#form-group input[name=name]', 'Standup')
  await alice.page.fill('#form-group input[name=members]', 'bob, carol')
  await alice.page.click('#form-group button[type=submit]')
  await alice.page.waitForSelector('#conv-title:text-is("Standup")')
  await alice.page.click('#video-call')
  await bob.page.waitForSelector('#incoming', { timeout: 60_000 })
  await carol.page.waitForSelector('#incoming', { timeout: 60_000 })
  t.match(await carol.page.textContent('#incoming'), /is calling Standup/)
  await carol.page.waitForFunction(() => document.querySelector('#incoming') !== null)
  await bob.page.click('#answer')
  await carol.page.click('#answer')
  const frames = await Promise.all([untilDecoding(alice.page, 2, 'alice'), untilDecoding(bob.page, 2, 'bob'), untilDecoding(carol.page, 2, 'carol')])
  for (const [i, who] of ['alice', 'bob', 'carol'].entries()) {
    t.equal(frames[i]!.length, 2, `${who} decodes two streams (${frames[i]!.join(', ')} frames)`)
  }
  for (const user of [alice, bob, carol]) {
    const labels = await user.page.$$eval('.tile[data-stream]', (els) => els.map((e) => e.getAttribute('data-label')).sort())
    t.same(labels, ['alice', 'bob', 'carol'].filter((n) => n !== user.name), `${user.name}'s tiles name the others`)
  }
  await carol.page.click('#quality-toggle')
  await carol.page.waitForTimeout(3000)
  await carol.shoot(TEST, '04-three')
  await alice.shoot(TEST, '04-three')
  // Carol leaves; the call goes on for the two others; then alice and bob hang up too.
  await carol.page.click('#hangup')
  await carol.page.waitForSelector('#call-screen', { state: 'detached', timeout: 30_000 })
  await alice.page.waitForFunction(() => document.querySelectorAll('.tile[data-stream]').length === 1, undefined, { timeout: 30_000 })
  t.pass('carol\'s tile left alice\'s call')
  await alice.page.click('#hangup')
  await bob.page.click('#hangup').catch(() => {})
  await carol.openConversation('Standup')
  await carol.page.waitForSelector('.call-record:has-text("Video call")', { timeout: 30_000 })
  t.pass('the group call\'s record reached carol')
})

t.test('no console errors on any page', async (t) => {
  for (const user of [alice, bob, carol]) t.same(user.errors(), [], user.name)
})
