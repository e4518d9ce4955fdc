/**
 * The ring of an incoming call: a soft two-tone pattern from Web Audio, so
 * no sound file is needed. Browsers let a page make sound only after the
 * user interacted with it (signing in counts); before that the ring is
 * silent and the call screen alone shows it.
 */
export class Ringer {
  #context: AudioContext | undefined
  #timer: ReturnType<typeof setInterval> | undefined

  start (): void {
    if (this.#timer !== undefined) return
    const activation = (navigator as Navigator & { userActivation?: { hasBeenActive: boolean } }).userActivation
    if (activation?.hasBeenActive !== true) return
    this.#context ??= new AudioContext()
    const ring = (): void => {
      const ctx = this.#context
      if (ctx === undefined || ctx.state === 'closed') return
      for (const [at, freq] of [[0, 660], [0.25, 880]] as const) {
        const osc = ctx.createOscillator()
        const gain = ctx.createGain()
        osc.frequency.value = freq
        gain.gain.setValueAtTime(0.0001, ctx.currentTime + at)
        gain.gain.exponentialRampToValueAtTime(0.08, ctx.currentTime + at + 0.02)
        gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + at + 0.22)
        osc.connect(gain).connect(ctx.destination)
        osc.start(ctx.currentTime + at)
        osc.stop(ctx.currentTime + at + 0.25)
      }
    }
    ring()
    this.#timer = setInterval(ring, 2000)
  }

  stop (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }
}
