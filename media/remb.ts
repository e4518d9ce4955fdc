/**
 * REMB (draft-alvestrand-rmcat-remb) from the SFU to a video sender: the
 * server announces a fixed cap instead of running its own estimator, so the
 * sender's loss-based estimate decides below it. See media/codecs.ts.
 */
import { ReceiverEstimatedMaxBitrate, RtcpPayloadSpecificFeedback, type RTCRtpReceiver } from 'werift'

/** Mantissa (18 bits) and exponent (6 bits) of a REMB bitrate. */
export function rembFields (bps: number): { brExp: number, brMantissa: number } {
  let brExp = 0
  let m = Math.max(0, Math.floor(bps))
  while (m > 0x3ffff) { m = Math.floor(m / 2); brExp++ }
  return { brExp, brMantissa: m }
}

export function sendRemb (receiver: RTCRtpReceiver, mediaSsrc: number, bps: number): Promise<void> {
  const { brExp, brMantissa } = rembFields(bps)
  const r = receiver as unknown as { rtcpSsrc: number, dtlsTransport: { sendRtcp: (p: unknown[]) => Promise<void> } }
  const packet = new RtcpPayloadSpecificFeedback({
    feedback: new ReceiverEstimatedMaxBitrate({
      senderSsrc: r.rtcpSsrc,
      mediaSsrc: 0,
      brExp,
      brMantissa,
      bitrate: BigInt(brMantissa) << BigInt(brExp),
      ssrcNum: 1,
      ssrcFeedbacks: [mediaSsrc]
    })
  })
  return r.dtlsTransport.sendRtcp([packet])
}
