/**
 * "Did you mean ...?" for a misspelt flag, command or variable: the known
 * names closest to what was typed, by optimal string alignment distance
 * (Levenshtein plus the swap of two neighbours, each substring edited once).
 * The rule is commander's (lib/suggestSimilar.js): at most 2 edits, more
 * than 40 % of the longer name left intact, no one-letter names, and every
 * name at the best distance, sorted. A hand-sized helper rather than a CLI
 * library: see the note in load-config.ts.
 */

const MAX_DISTANCE = 2
const MIN_SIMILARITY = 0.4

/** Edits (insert, delete, substitute, swap two neighbours) that turn `a` into `b`. */
export function editDistance (a: string, b: string): number {
  // Past the cut-off the exact figure does not matter.
  if (Math.abs(a.length - b.length) > MAX_DISTANCE) return Math.max(a.length, b.length)
  // d[i][j]: distance between the first i characters of a and the first j of b.
  const d: number[][] = []
  for (let i = 0; i <= a.length; i++) d.push([i])
  for (let j = 1; j <= b.length; j++) d[0]![j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1)
      d[i]![j] = best
    }
  }
  return d[a.length]![b.length]!
}

/** The candidates nearest to `word` within the cut-off, sorted; none when nothing is close. */
export function similarNames (word: string, candidates: Iterable<string>): string[] {
  let best = MAX_DISTANCE
  let similar: string[] = []
  for (const candidate of new Set(candidates)) {
    if (candidate.length <= 1 || candidate === word) continue
    const distance = editDistance(word, candidate)
    const length = Math.max(word.length, candidate.length)
    if ((length - distance) / length <= MIN_SIMILARITY || distance > best) continue
    if (distance < best) similar = []
    best = distance
    similar.push(candidate)
  }
  return similar.sort()
}

/**
 * `: did you mean --mqtt-port?` (or `one of a, b?`) to end an error line, or
 * '' when nothing is close. `prefix` is put before each name, after matching:
 * '--' for flags, so a flag is compared without its dashes.
 */
export function didYouMean (word: string, candidates: Iterable<string>, prefix = ''): string {
  const similar = similarNames(word, candidates).map((name) => prefix + name)
  if (similar.length === 0) return ''
  return `: did you mean ${similar.length === 1 ? similar[0]! : `one of ${similar.join(', ')}`}?`
}
