// The Markdown report: one table per scenario, ratios against mosquitto and, in
// the chat cells, against ejabberd (the IM server peer).
import { num, ratio, value } from './figures.mjs'
import { goalsMarkdown } from './goals.mjs'

/** The brokers others are divided by, when the scenario has them. */
const BASES = [{ broker: 'mosquitto', column: '× mosq' }, { broker: 'ejabberd', column: '× ejabberd' }]

/** A ratio: two decimals; whole numbers from 100×; 1/N below 0.01× (where two decimals would print 0.00×). @param {number} r */
function times (r) {
  if (r >= 100) return `${num(r)}×`
  return r >= 0.01 || r === 0 ? `${r.toFixed(2)}×` : `1/${num(1 / r)}×`
}

/** "median (min..max)" or the bare value for one repetition. @param {any} v */
function spread (v) {
  if (v === null || v === undefined) return '–'
  if (typeof v === 'number') return num(v)
  if (typeof v.median === 'number') return v.n > 1 && v.min !== v.max ? `${num(v.median)} (${num(v.min)}..${num(v.max)})` : num(v.median)
  if (typeof v.total === 'number') return String(v.total)
  return '–'
}

/** @param {any} run */
export function renderMarkdown (run) {
  const m = run.machine
  const lines = [
    `## Bench run ${run.startedAt} (${run.preset}${run.preset === 'full' ? '' : ', not the full matrix'})`,
    '',
    `${m.cpus} × ${m.model}, ${m.memGiB} GiB; node ${m.node}; ${m.mosquitto ?? 'no mosquitto'}; ${m.ejabberd === undefined ? '' : `${m.ejabberd ?? 'no ejabberd'}; `}${m.redis ?? 'no redis'}; hail ${m.hail ?? '?'}.`,
    `Broker pinned to CPU 0, load generator to CPU 1: ${m.pinned ? 'yes' : 'no'}. Load average at start ${m.loadavgAtStart.join(' ')}.`,
    `Medians of ${run.reps} repetition(s), (min..max) when they differ; loss and duplicates are totals over all repetitions. ` +
    `"× mosq" is a figure divided by mosquitto's in this run, "× ejabberd" by ejabberd's (chat cells). Loss: acknowledged but never delivered; "still queued": the broker was still delivering when the harness stopped waiting (a backlog, not a proven loss). Took ${Math.round(run.seconds)} s.`,
    ''
  ]
  for (const [name, s] of Object.entries(run.scenarios)) {
    const cells = run.cells.filter((c) => c.scenario === name)
    if (cells.length === 0) continue
    lines.push(`### ${s.title}`, '', s.description, '')
    const bases = BASES.filter((b) => cells.some((c) => c.broker === b.broker))
    /** The ratio columns of a headline figure: none for a count that is no ratio (lost, in the crash cells). @param {{ ratio?: boolean }} h */
    const basesOf = (h) => h.ratio === false ? [] : bases
    const head = ['broker', ...s.headline.flatMap((h) => [h.label, ...basesOf(h).map((b) => b.column)]), 'p50 / p99 / p99.9 ms', 'RSS MiB', 'loss', 'dup', 'idle before']
    lines.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`)
    for (const c of cells) {
      if (c.status !== 'ok') {
        lines.push(`| ${c.broker} | ${c.status === 'n/a' ? c.reason : `error: ${c.reason}`} |${' |'.repeat(head.length - 2)}`)
        continue
      }
      const sum = c.summary
      const row = [c.broker]
      for (const h of s.headline) {
        row.push(spread(sum[h.key]))
        for (const b of basesOf(h)) {
          const r = c.broker === b.broker ? null : ratio(run, name, c.broker, h.key, b.broker)
          row.push(c.broker === b.broker ? '1' : r === null ? '–' : times(r))
        }
      }
      row.push([sum.p50, sum.p99, sum.p999].map((v) => num(value(v))).join(' / '))
      const rss = value(sum.rssKiB)
      row.push(rss === null ? '–' : num(rss / 1024))
      const backlog = value(sum.backlog) ?? 0
      const unknownLoss = sum.loss?.n !== undefined && sum.loss.n < c.reps.filter((r) => r.metrics !== undefined).length
      const unacked = value(sum.unacked) ?? 0
      const dropped = value(sum.dropped) ?? 0
      row.push(`${spread(sum.loss)}${unknownLoss ? '?' : ''}${backlog > 0 ? ` (+${num(backlog)} still queued when the wait ended)` : ''}${unacked > 0 ? ` (${num(unacked)} sent, never acknowledged)` : ''}${dropped > 0 ? ` (${num(dropped)} connections closed by the broker)` : ''}`, spread(sum.duplicates))
      const idles = c.reps.map((r) => r.quiet?.idle).filter((x) => typeof x === 'number')
      row.push(idles.length === 0 ? 'not checked' : idles.map((x) => `${Math.round(x * 100)}%`).join(' '))
      lines.push(`| ${row.join(' | ')} |`)
    }
    const errors = cells.flatMap((c) => c.reps.filter((r) => r.error !== undefined).map((r) => `${c.broker} #${r.rep}: ${r.error.split('\n')[0]}`))
    if (errors.length > 0) lines.push('', ...errors.map((e) => `- failed repetition: ${e}`))
    lines.push('')
  }
  lines.push(...goalsMarkdown(run))
  return lines.join('\n') + '\n'
}
