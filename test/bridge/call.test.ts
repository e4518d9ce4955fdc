import t from 'tap'
import { Call, type CallEffect } from '../../bridge/call.js'

const alice = { user: 'alice', device: 'phone' }
const alicePc = { user: 'alice', device: 'pc' }
const bob = { user: 'bob', device: 'phone' }
const bobPc = { user: 'bob', device: 'pc' }
const carol = { user: 'carol', device: 'phone' }
const dave = { user: 'dave', device: 'phone' }

function oneToOne (): Call {
  return new Call({ id: 'c1', conv: 'd:alice:bob', mode: 'sfu', media: { audio: true, video: false }, group: false, caller: alice, callees: ['bob'], maxParticipants: 16, now: 1000 })
}

function group (max = 16): Call {
  return new Call({ id: 'g1', conv: 'g:aaaaaaaaaaaa', mode: 'sfu', media: { audio: true, video: true }, group: true, caller: alice, callees: ['bob', 'carol'], maxParticipants: max, now: 1000 })
}

const notes = (effects: CallEffect[]): string[] => effects.filter((e) => e.kind === 'notify')
  .map((e) => e.kind === 'notify' ? `${e.event}>${e.users.join(',')}${e.by === undefined ? '' : `@${e.by}`}${e.reason === undefined ? '' : `(${e.reason})`}` : '')
const kinds = (effects: CallEffect[]): string[] => effects.map((e) => e.kind === 'join' || e.kind === 'leave' ? `${e.kind}:${e.device}` : e.kind === 'end' ? `end:${e.reason}` : e.kind)
const code = (fn: () => unknown): string | undefined => {
  try { fn() } catch (err) { return (err as { code?: string }).code }
  return undefined
}

t.test('invite puts the caller in and rings every callee', async (t) => {
  const call = oneToOne()
  const effects = call.start()
  t.same(kinds(effects), ['join:alice/phone', 'notify'])
  t.same(notes(effects), ['ring>bob'])
  t.equal(call.state, 'ringing')
  t.ok(call.isParticipant(alice))
  t.notOk(call.isParticipant(alicePc), 'the caller is in on the device that called only')
})

t.test('accept: the first device wins, the caller is told accepted and the other devices answered-elsewhere', async (t) => {
  const call = oneToOne()
  call.start()
  const effects = call.accept(bob, 2000)
  t.same(kinds(effects), ['join:bob/phone', 'notify', 'notify', 'stopRinging'])
  t.same(notes(effects), ['accepted>alice@bob/phone', 'answered-elsewhere>bob@bob/phone'])
  t.equal(call.state, 'active')
  t.equal(call.answeredAt, 2000)
  t.equal(code(() => call.accept(bobPc)), 'HAIL_ERR_CALL_STATE', 'a second device of the callee is refused')
  t.equal(code(() => call.accept(alicePc)), 'HAIL_ERR_CALL_STATE', 'the caller cannot accept')
  t.equal(code(() => call.accept(carol)), 'HAIL_ERR_CALL_NOT_FOUND', 'a stranger learns nothing')
})

t.test('reject of a 1:1 call ends it as rejected and tells both sides', async (t) => {
  const call = oneToOne()
  call.start()
  const effects = call.reject(bobPc, 1500)
  t.same(notes(effects), ['rejected>alice,bob@bob/pc'])
  t.same(kinds(effects).slice(-3), ['leave:alice/phone', 'stopRinging', 'end:rejected'])
  t.equal(call.state, 'ended')
  t.equal(call.reason, 'rejected')
  t.equal(call.durationMs, 0)
  t.equal(code(() => call.accept(bob)), 'HAIL_ERR_CALL_NOT_FOUND', 'an ended call takes nothing more')
})

t.test('the caller hanging up while it rings cancels the call', async (t) => {
  const call = oneToOne()
  call.start()
  const effects = call.hangup(alice)
  t.same(notes(effects), ['cancelled>alice,bob@alice/phone(cancelled)'])
  t.equal(call.reason, 'cancelled')
})

t.test('a ringing callee device hanging up declines', async (t) => {
  const call = oneToOne()
  call.start()
  t.same(notes(call.hangup(bob)), ['rejected>alice,bob@bob/phone'])
  t.equal(call.reason, 'rejected')
})

t.test('ring timeout of an unanswered call: missed for everyone', async (t) => {
  const call = oneToOne()
  call.start()
  const effects = call.ringTimeout(31_000)
  t.same(notes(effects), ['missed>alice,bob(missed)'])
  t.equal(call.reason, 'missed')
  t.same(call.ringTimeout(), [], 'a late timer does nothing')
})

t.test('hangup of a running 1:1 call ends it for both, with its duration', async (t) => {
  const call = oneToOne()
  call.start(undefined, 1000)
  call.accept(bob, 2000)
  const effects = call.hangup(bob, 'hangup', 12_000)
  t.same(notes(effects), ['ended>alice,bob@bob/phone(hangup)'])
  t.same(kinds(effects).filter((k) => k.startsWith('leave')).sort(), ['leave:alice/phone', 'leave:bob/phone'])
  t.equal(call.durationMs, 10_000)
  t.same(call.spans.map((s) => [s.device, s.leftAt]), [['alice/phone', 12_000], ['bob/phone', 12_000]])
})

t.test('a device that vanishes ends a 1:1 call as disconnected; one not in the call changes nothing', async (t) => {
  const call = oneToOne()
  call.start()
  call.accept(bob)
  t.same(call.drop(bobPc), [], 'the other device of the callee is not in the call')
  t.same(call.drop(alicePc), [])
  t.equal(call.state, 'active')
  const effects = call.drop(alice)
  t.same(notes(effects), ['ended>alice,bob@alice/phone(disconnected)'])
  t.equal(call.reason, 'disconnected')
})

t.test('the caller vanishing while it rings cancels as disconnected', async (t) => {
  const call = oneToOne()
  call.start()
  t.same(notes(call.drop(alice)), ['cancelled>alice,bob@alice/phone(disconnected)'])
  t.equal(call.reason, 'disconnected')
})

t.test('hangup by a device not in the call is refused', async (t) => {
  const call = oneToOne()
  call.start()
  call.accept(bob)
  t.equal(code(() => call.hangup(bobPc)), 'HAIL_ERR_CALL_STATE')
  t.equal(call.state, 'active')
})

t.test('busy: a 1:1 call whose callee is busy is over before it rings', async (t) => {
  const call = new Call({ id: 'c2', conv: 'd:alice:bob', mode: 'sfu', media: { audio: true, video: false }, group: false, caller: alice, callees: [], maxParticipants: 16 })
  const effects = call.start(['bob'])
  t.same(notes(effects), ['busy>alice@bob'])
  t.same(kinds(effects), ['notify', 'end:busy'])
  t.equal(call.reason, 'busy')
})

t.test('group: busy members are reported to the caller, the others ring', async (t) => {
  const call = new Call({ id: 'g2', conv: 'g:aaaaaaaaaaaa', mode: 'sfu', media: { audio: true, video: false }, group: true, caller: alice, callees: ['bob'], maxParticipants: 16 })
  t.same(notes(call.start(['carol'])), ['ring>bob', 'busy>alice@carol'])
  t.equal(call.state, 'ringing')
})

t.test('group: accepts join one by one, each told to the others', async (t) => {
  const call = group()
  call.start()
  t.same(notes(call.accept(bob)), ['accepted>alice,carol@bob/phone', 'answered-elsewhere>bob@bob/phone'])
  const effects = call.accept(carol)
  t.same(notes(effects), ['accepted>alice,bob@carol/phone', 'answered-elsewhere>carol@carol/phone'])
  t.ok(kinds(effects).includes('stopRinging'), 'nobody rings any more')
  t.equal(call.participants.size, 3)
})

t.test('group: leave tells everyone, the last one out ends the call', async (t) => {
  const call = group()
  call.start()
  call.accept(bob)
  t.same(notes(call.hangup(alice)), ['left>alice,bob,carol@alice/phone(hangup)'])
  t.equal(call.state, 'active', 'the call goes on after the caller left')
  t.same(notes(call.drop(bob)), ['ended>alice,bob,carol@bob/phone(disconnected)'])
  t.equal(call.state, 'ended')
})

t.test('group: a member joins a running call, leaves, and joins again', async (t) => {
  const call = group()
  call.start()
  call.accept(bob)
  t.same(notes(call.join(dave)), ['joined>alice,bob,carol@dave/phone'], 'a member not rung joins')
  t.equal(code(() => call.join({ user: 'dave', device: 'pc' })), 'HAIL_ERR_CALL_STATE', 'once per user')
  t.same(kinds(call.hangup(dave)), ['leave:dave/phone', 'notify'])
  t.same(kinds(call.join(dave)), ['join:dave/phone', 'notify'])
  t.same(notes(call.join(carol)), ['joined>alice,bob,dave@carol/phone', 'answered-elsewhere>carol@carol/phone'], 'joining stops the ring on the other devices')
  t.equal(call.spans.filter((s) => s.device === 'dave/phone').length, 2)
})

t.test('group: reject by one member leaves the call ringing for the others; all rejecting ends it', async (t) => {
  const call = group()
  call.start()
  t.same(notes(call.reject(bob)), ['rejected>alice,bob,carol@bob/phone'])
  t.equal(call.state, 'ringing')
  const effects = call.reject(carol)
  t.same(kinds(effects).slice(-1), ['end:rejected'])
})

t.test('group: ring timeout after someone answered: the rest missed it, the call goes on', async (t) => {
  const call = group()
  call.start()
  call.accept(bob)
  t.same(notes(call.ringTimeout()), ['missed>carol(missed)'])
  t.equal(call.state, 'active')
  t.equal(code(() => call.accept(carol)), 'HAIL_ERR_CALL_STATE', 'too late to accept ...')
  t.same(kinds(call.join(carol)), ['join:carol/phone', 'notify'], '... but a member may still join')
})

t.test('a full call refuses another participant', async (t) => {
  const call = group(2)
  call.start()
  call.accept(bob)
  t.equal(code(() => call.accept(carol)), 'HAIL_ERR_CALL_STATE')
  t.equal(code(() => call.join(dave)), 'HAIL_ERR_CALL_STATE')
})

t.test('join is for group calls only', async (t) => {
  const call = oneToOne()
  call.start()
  t.equal(code(() => call.join(bob)), 'HAIL_ERR_CALL_STATE')
})

t.test('abort at shutdown ends a running call for everyone', async (t) => {
  const call = group()
  call.start()
  call.accept(bob)
  const effects = call.abort('shutdown')
  t.same(notes(effects), ['ended>alice,bob,carol(shutdown)'])
  t.same(kinds(effects).slice(-1), ['end:shutdown'])
  t.same(call.abort('shutdown'), [], 'once')
})
