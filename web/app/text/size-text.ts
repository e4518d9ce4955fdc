/** 812 B, 4.2 KB, 1.3 MB: sizes in decimal units, as file managers show them. */
export function size (bytes: number): string {
  if (bytes < 1000) return `${bytes} B`
  const units = ['KB', 'MB', 'GB', 'TB']
  let value = bytes / 1000
  let unit = 0
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000
    unit++
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]!}`
}

/** A figure with at most `digits` decimals and no trailing float noise: 0.1 + 0.2 → "0.3". */
export function figure (value: number, digits = 1): string {
  if (!Number.isFinite(value)) return '–'
  return Number(value.toFixed(digits)).toLocaleString(undefined, { maximumFractionDigits: digits })
}
