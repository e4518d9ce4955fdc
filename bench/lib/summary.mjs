// Medians with min..max over the repetitions of a cell.

/** @param {number[]} xs */
export function median (xs) {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

/**
 * For every numeric metric: { median, min, max, n }; other values are kept from the first repetition.
 * Loss and duplicates are summed: one lost message in any repetition must show.
 * @param {Record<string, any>[]} reps
 */
export function summarise (reps) {
  /** @type {Record<string, any>} */
  const out = {}
  const keys = new Set(reps.flatMap((r) => Object.keys(r)))
  for (const key of keys) {
    const values = reps.map((r) => r[key]).filter((v) => typeof v === 'number' && Number.isFinite(v))
    if (values.length === 0) {
      out[key] = reps.find((r) => r[key] !== undefined && r[key] !== null)?.[key] ?? null
      continue
    }
    if (key === 'loss' || key === 'lost' || key === 'duplicates' || key === 'errors' || key === 'failed' || key === 'backlog' || key === 'unacked' || key === 'dropped') {
      out[key] = { total: values.reduce((a, b) => a + b, 0), n: values.length }
      continue
    }
    out[key] = { median: round(median(values)), min: Math.min(...values), max: Math.max(...values), n: values.length }
  }
  return out
}

/** @param {number} x */
const round = (x) => Math.round(x * 1000) / 1000
