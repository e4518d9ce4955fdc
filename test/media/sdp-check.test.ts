import t, { type Test } from 'tap'
import { RTCPeerConnection } from 'werift'
import { checkCandidate, checkSdp, MAX_SDP_BYTES, MediaError } from '../../media/index.js'

async function realOffer (): Promise<string> {
  const pc = new RTCPeerConnection({ iceServers: [] })
  pc.addTransceiver('audio', { direction: 'sendrecv' })
  pc.addTransceiver('video', { direction: 'sendrecv' })
  pc.createDataChannel('hail')
  const offer = await pc.createOffer()
  await pc.close()
  return offer.sdp
}

function refuses (t: Test, fn: () => unknown, code: string, pattern: RegExp): void {
  try {
    fn()
    t.fail(`expected ${code} ${pattern}`)
  } catch (err) {
    t.ok(err instanceof MediaError && err.code === code && pattern.test(err.message), `${code} ${pattern}: got ${(err as Error).message}`)
  }
}

t.test('checkSdp() accepts an offer werift itself makes', async (t) => {
  const sdp = await realOffer()
  t.equal(checkSdp(sdp), sdp)
})

t.test('checkSdp() refuses garbage, huge and structurally wrong SDP with HAIL_ERR_SDP', async (t) => {
  const sdp = await realOffer()
  refuses(t, () => checkSdp(42), 'HAIL_ERR_SDP', /must be a string/)
  refuses(t, () => checkSdp('hello world'), 'HAIL_ERR_SDP', /v=0/)
  refuses(t, () => checkSdp(sdp + 'a=x-pad:' + 'x'.repeat(MAX_SDP_BYTES) + '\r\n'), 'HAIL_ERR_SDP', /limit is 65536/)
  refuses(t, () => checkSdp(sdp.replace(/m=audio/, 'm=telepathy')), 'HAIL_ERR_SDP', /unknown media kind "telepathy"/)
  refuses(t, () => checkSdp(sdp.replace(/a=ice-ufrag:.*\r\n/g, '')), 'HAIL_ERR_SDP', /no ICE ufrag/)
  refuses(t, () => checkSdp(sdp.replace(/a=fingerprint:.*\r\n/g, '')), 'HAIL_ERR_SDP', /no DTLS fingerprint/)
  refuses(t, () => checkSdp(sdp.replace(/a=fingerprint:(\S+) .*/, 'a=fingerprint:$1 zz')), 'HAIL_ERR_SDP', /malformed fingerprint/)
  refuses(t, () => checkSdp(sdp.split('\r\n').filter((l) => !l.startsWith('m=')).join('\r\n')), 'HAIL_ERR_SDP', /no m-lines/)
  const many = sdp.split('\r\n').slice(0, -1).join('\r\n') + '\r\n' + Array.from({ length: 40 }, () => 'm=audio 9 UDP/TLS/RTP/SAVPF 111').join('\r\n') + '\r\n'
  refuses(t, () => checkSdp(many), 'HAIL_ERR_SDP', /more than 32 m-lines/)
  refuses(t, () => checkSdp(sdp.replace('v=0\r\n', 'v=0\r\nthis is not sdp\r\n')), 'HAIL_ERR_SDP', /line 2 is not/)
  refuses(t, () => checkSdp(sdp.replace(/(m=audio[^\r]*\r\n)/, '$1a=candidate:1 1 udp 1 evil.example.com 9 typ host\r\n')), 'HAIL_ERR_SDP', /not an IP address/)
})

t.test('checkCandidate() accepts RFC 8839 candidates and end-of-candidates', async (t) => {
  t.same(checkCandidate({ candidate: 'candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host', sdpMid: '0', sdpMLineIndex: 0 }).candidate,
    'candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host')
  t.ok(checkCandidate({ candidate: 'candidate:abc 1 UDP 1 ::1 9 typ host generation 0 ufrag x' }))
  t.ok(checkCandidate({ candidate: 'candidate:2 1 udp 1 3f2a9c1e-aa.local 9 typ host' }))
  t.ok(checkCandidate({ candidate: 'candidate:3 1 udp 1 127.0.0.1 9 typ srflx raddr 127.0.0.1 rport 8' }))
  t.equal(checkCandidate({ candidate: '' }).candidate, '')
})

t.test('checkCandidate() refuses malformed candidates with HAIL_ERR_CANDIDATE', async (t) => {
  refuses(t, () => checkCandidate('candidate:1 1 udp 1 127.0.0.1 9 typ host'), 'HAIL_ERR_CANDIDATE', /must be an object/)
  refuses(t, () => checkCandidate({ candidate: 7 }), 'HAIL_ERR_CANDIDATE', /must be a string/)
  refuses(t, () => checkCandidate({ candidate: 'hello' }), 'HAIL_ERR_CANDIDATE', /does not match/)
  refuses(t, () => checkCandidate({ candidate: 'candidate:1 1 sctp 1 127.0.0.1 9 typ host' }), 'HAIL_ERR_CANDIDATE', /does not match/)
  refuses(t, () => checkCandidate({ candidate: 'candidate:1 1 udp 1 127.0.0.1 99999 typ host' }), 'HAIL_ERR_CANDIDATE', /port out of range/)
  refuses(t, () => checkCandidate({ candidate: 'candidate:1 1 udp 1 999.1.1.1 9 typ host' }), 'HAIL_ERR_CANDIDATE', /not an IP address/)
  refuses(t, () => checkCandidate({ candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host ' + 'x y '.repeat(400) }), 'HAIL_ERR_CANDIDATE', /longer than 1024/)
  refuses(t, () => checkCandidate({ candidate: '', sdpMLineIndex: 99 }), 'HAIL_ERR_CANDIDATE', /sdpMLineIndex/)
})
