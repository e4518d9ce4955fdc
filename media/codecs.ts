/**
 * What the SFU negotiates: codecs, RTCP feedback and RTP header extensions.
 * One place on purpose: the web engineer measures Chromium against this file
 * and may tune it.
 *
 * Bandwidth estimation choice (issue 4: Chrome toward werift with
 * transport-cc negotiated was seen stuck at ~300 kbps):
 * - transport-cc is NOT offered. With it, Chrome does send-side BWE from the
 *   transport-wide feedback werift's receiver produces (ReceiverTWCC in
 *   node_modules/werift/lib/webrtc/src/media/receiver/receiverTwcc.js, sent
 *   from a coarse timer loop); Chrome's delay-based estimator reads that as
 *   congestion and stays near its 300 kbps start rate.
 * - goog-remb + abs-send-time ARE offered, and the server itself sends a REMB
 *   to each video sender (see media/remb.ts) carrying a fixed cap
 *   (maxVideoBitrateKbps), as Janus does with its per-publisher bitrate cap.
 *   Chrome's target is then min(loss-based estimate, REMB): it ramps up as
 *   long as loss stays low and never exceeds the cap.
 * - nack, nack pli and ccm fir on video: werift's sender answers NACKs from a
 *   128-packet history, its receiver sends NACKs upstream, and the SFU relays
 *   PLI/FIR to the sender (media/forward.ts).
 * - Measured (web engineer, Chromium 156 headless, fake 640x480 camera, one
 *   sendonly VP8 stream to a werift receiver over loopback, 12 s):
 *   transport-cc + transport-wide-cc extension negotiated: 164 kbps average,
 *   falling to ~80 kbps, scaled to 480 wide at 10 fps (qualityLimitation
 *   'bandwidth'); goog-remb without any REMB sent: 328 kbps; no BWE feedback
 *   at all: 330 kbps, Chrome's target climbing 300 → 700 kbps in 12 s.
 *   Through this SFU (REMB cap 2500): availableOutgoingBitrate 2500 at once,
 *   ~500 kbps sent, limitation 'none' (the encoder's own rate for that
 *   source). So: keep transport-cc off, keep goog-remb + the server's REMB.
 * - No RTX: retransmissions go on the primary SSRC (browsers accept that
 *   when RTX is not negotiated), which keeps forwarding SSRC-free.
 */
import {
  RTCRtpCodecParameters,
  RTCRtpHeaderExtensionParameters,
  useAbsSendTime,
  useSdesMid
} from 'werift'

/** Default REMB cap the server announces to video senders. */
export const DEFAULT_MAX_VIDEO_BITRATE_KBPS = 2500

const videoFeedback = () => [
  { type: 'nack' },
  { type: 'nack', parameter: 'pli' },
  { type: 'ccm', parameter: 'fir' },
  { type: 'goog-remb' }
]

export function sfuCodecs (): { audio: RTCRtpCodecParameters[], video: RTCRtpCodecParameters[] } {
  return {
    audio: [
      new RTCRtpCodecParameters({
        mimeType: 'audio/opus',
        clockRate: 48000,
        channels: 2,
        payloadType: 111,
        parameters: 'minptime=10;useinbandfec=1',
        rtcpFeedback: []
      })
    ],
    video: [
      new RTCRtpCodecParameters({
        mimeType: 'video/VP8',
        clockRate: 90000,
        payloadType: 96,
        rtcpFeedback: videoFeedback()
      }),
      new RTCRtpCodecParameters({
        mimeType: 'video/H264',
        clockRate: 90000,
        payloadType: 102,
        parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
        rtcpFeedback: videoFeedback()
      })
    ]
  }
}

export function sfuHeaderExtensions (): { audio: RTCRtpHeaderExtensionParameters[], video: RTCRtpHeaderExtensionParameters[] } {
  return {
    audio: [useSdesMid()],
    video: [useSdesMid(), useAbsSendTime()]
  }
}
