import t from 'tap'
import { CallDevice } from '../helpers/call-device.js'
import { callErrors, callServer, RawDevice, waitCallEvent } from '../helpers/call-server.js'
import { waitFor } from '../helpers/wait-for.js'

const audio = { audio: true, video: false }

t.test('garbage SDP, huge SDP, malformed candidates and invite floods get clear errors; a running call is unaffected', async (t) => {
  const { port } = await callServer(t, ['alice', 'bob', 'carol', 'dave'], {
    calls: { mediaPortMin: 42700, mediaPortMax: 42899, mediaListenAddress: '127.0.0.1', inviteBurst: 3, invitesPerMinute: 1 }
  })
  // A healthy call between carol and dave, with media through the relay.
  const carol = await CallDevice.connect(t, port, 'carol', 'phone', audio)
  const dave = await CallDevice.connect(t, port, 'dave', 'phone', audio)
  const healthy = await carol.mqtt.request('call.invite', { to: 'dave', media: audio })
  await carol.offer(healthy.callId)
  await waitCallEvent(dave.mqtt, healthy.callId, 'ring')
  await dave.mqtt.request('call.accept', { callId: healthy.callId })
  await dave.offer(healthy.callId)
  await carol.sendUntil('audio', 'before', () => dave.got('audio', 'before', carol.id), 'media before the attack')

  // alice calls bob and sends garbage to the relay.
  const aliceDevice = await CallDevice.connect(t, port, 'alice', 'phone', audio)
  const alice = aliceDevice.mqtt
  const bob = await RawDevice.connect(t, port, 'bob', 'phone')
  const { callId } = await alice.request('call.invite', { to: 'bob', media: audio })
  // A well-formed SDP (never sent as an offer) to play a wrong role with.
  await aliceDevice.pc.setLocalDescription(await aliceDevice.pc.createOffer())
  const realSdp = aliceDevice.pc.localDescription!.sdp
  const send = async (s: unknown): Promise<string> => {
    const before = callErrors(alice, callId).length
    await alice.client.publishAsync(`im/call/${callId}/signal`, typeof s === 'string' ? s : JSON.stringify(s), { qos: 1 })
    await waitFor(() => callErrors(alice, callId).length > before, 'an error reply')
    return callErrors(alice, callId)[before].error.code
  }
  t.equal(await send({ type: 'offer', sdp: 'hello, I am not SDP' }), 'HAIL_ERR_SDP', 'text that is not SDP')
  t.equal(await send({ type: 'offer', sdp: 'v=0\r\n' + 'a=x\r\n'.repeat(13_200) }), 'HAIL_ERR_SDP', 'an SDP over 64 KiB')
  t.equal(await send({ type: 'offer', sdp: 'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' + 'm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n'.repeat(500) }), 'HAIL_ERR_SDP', 'hundreds of media sections')
  t.equal(await send({ type: 'candidate', candidate: { candidate: 'candidate:garbage', sdpMid: '0' } }), 'HAIL_ERR_CANDIDATE', 'a malformed candidate')
  t.equal(await send({ type: 'candidate', candidate: { candidate: 'x'.repeat(2000) } }), 'HAIL_ERR_CANDIDATE', 'a huge candidate')
  t.equal(await send({ type: 'answer', sdp: realSdp }), 'HAIL_ERR_SIGNAL_STATE', 'an answer nobody asked for')
  t.ok(alice.client.connected, 'the sender is still connected')

  // An invite flood from bob: limited, nothing else hurt.
  const codes: string[] = []
  await Promise.all(Array.from({ length: 30 }, async () => {
    try {
      await bob.request('call.invite', { to: 'alice', media: audio })
      codes.push('ok')
    } catch (err) {
      codes.push((err as { code: string }).code)
    }
  }))
  t.ok(codes.filter((c) => c === 'HAIL_ERR_RATE_LIMITED').length >= 27, `flood limited: ${codes.filter((c) => c !== 'HAIL_ERR_RATE_LIMITED').join(',')} and the rest HAIL_ERR_RATE_LIMITED`)

  await carol.sendUntil('audio', 'after', () => dave.got('audio', 'after', carol.id), 'media after the attack')
  await dave.sendUntil('audio', 'back', () => carol.got('audio', 'back', dave.id), 'and back')
  t.pass('the healthy call still carries media both ways')
})
