// Reading figures out of a run: medians, ratios to mosquitto (or ejabberd), number formatting.

/** @param {any} v */
export function value (v) {
  if (v === null || v === undefined) return null
  if (typeof v === 'number') return v
  if (typeof v.median === 'number') return v.median
  if (typeof v.total === 'number') return v.total
  return null
}

/** @param {number | null} x */
export function num (x) {
  if (x === null) return '–'
  const a = Math.abs(x)
  if (a >= 10_000) return Math.round(x).toLocaleString('en-US')
  if (a >= 100) return x.toFixed(0)
  if (a >= 10) return x.toFixed(1)
  return x.toFixed(2)
}

/**
 * A broker's figure over the base broker's (mosquitto, or ejabberd in the chat cells), for one metric of one scenario.
 * @param {any} run @param {string} scenario @param {string} broker @param {string} key @param {string} [baseBroker]
 * @returns {number | null}
 */
export function ratio (run, scenario, broker, key, baseBroker = 'mosquitto') {
  const base = run.cells.find((c) => c.scenario === scenario && c.broker === baseBroker && c.status === 'ok')
  const cell = run.cells.find((c) => c.scenario === scenario && c.broker === broker && c.status === 'ok')
  const a = value(cell?.summary[key])
  const b = value(base?.summary[key])
  if (a === null || b === null || b === 0) return null
  return a / b
}
