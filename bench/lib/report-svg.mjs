// A hand-written SVG chart in panels on one log scale:
//  1. each scenario's headline figures for each other broker ÷ mosquitto's (1× = mosquitto);
//  2. the chat cells' figures for each Hail variant ÷ ejabberd's (1× = ejabberd), when it ran;
//  3. each goal of issue 6 as this run's figure ÷ its target (1× = the goal).
// Green where the broker does better than the line (or meets the goal), red where it does worse.
import { ratio } from './figures.mjs'
import { checkGoals } from './goals.mjs'

const GREEN = '#2e9d5b'
const RED = '#d2473c'
const MIN = 1 / 16
const MAX = 64
const LEFT = 330
const PLOT_W = 520
const BAR_H = 14

/** @param {string} s */
const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/**
 * @typedef {{ name: string, r: number | null, good: boolean, note: string }} Bar
 * @typedef {{ label: string, sub: string, bars: Bar[] }} Row
 */

/**
 * Every headline figure of every broker but `base` (and but `skip`) ÷ the base's, per scenario that has the base.
 * @param {any} run @param {string} base @param {string[]} skip @returns {Row[]}
 */
function baseRows (run, base, skip) {
  const brokers = [...new Set(run.cells.map((c) => c.broker))].filter((b) => b !== base && !skip.includes(b))
  /** @type {Row[]} */
  const rows = []
  for (const [name, s] of Object.entries(run.scenarios)) {
    const cells = run.cells.filter((c) => c.scenario === name)
    if (!cells.some((c) => c.broker === base)) continue
    for (const h of s.headline) {
      if (h.ratio === false) continue
      const bars = brokers.filter((b) => cells.some((c) => c.broker === b)).map((b) => {
        const cell = cells.find((c) => c.broker === b)
        const r = ratio(run, name, b, h.key, base)
        const note = cell?.status !== 'ok' ? /** @type {string} */ (cell?.status) : r === null ? `no ${base} figure` : ''
        return { name: b, r, good: r !== null && (h.better === 'lower' ? r <= 1 : r >= 1), note }
      })
      if (bars.length > 0) rows.push({ label: `${s.title}: ${h.label}`, sub: `${h.better} is better`, bars })
    }
  }
  return rows
}

/** @param {any} run @returns {Row[]} */
function goalRows (run) {
  /** @type {Map<string, Row>} */
  const rows = new Map()
  for (const g of checkGoals(run)) {
    const row = rows.get(g.goal.text) ?? { label: g.goal.text, sub: `${g.goal.op === '<=' ? 'at most' : 'at least'} the goal`, bars: [] }
    rows.set(g.goal.text, row)
    row.bars.push({ name: g.broker, r: g.actual === null ? null : g.actual / g.target, good: g.met === true, note: g.actual === null ? g.shown : '' })
  }
  return [...rows.values()]
}

/** @param {any} run */
export function renderSvg (run) {
  const panels = [
    { title: '÷ mosquitto (same machine, same run)', base: 'mosquitto', rows: baseRows(run, 'mosquitto', []) },
    { title: '÷ ejabberd, the IM server (same machine, same run)', base: 'ejabberd', rows: baseRows(run, 'ejabberd', ['mosquitto', 'mosquitto-mem']) },
    { title: 'This run ÷ the goals of issue 6', base: 'goal', rows: goalRows(run) }
  ].filter((p) => p.rows.length > 0)
  const rowH = (/** @type {Row} */ r) => r.bars.length * (BAR_H + 4) + 16
  const panelH = (/** @type {{ rows: Row[] }} */ p) => 60 + p.rows.reduce((a, r) => a + rowH(r), 0) + 30
  const width = LEFT + PLOT_W + 170
  const height = 60 + panels.reduce((a, p) => a + panelH(p), 0)
  const x = (/** @type {number} */ r) => LEFT + (Math.log2(Math.min(MAX, Math.max(MIN, r))) - Math.log2(MIN)) / (Math.log2(MAX) - Math.log2(MIN)) * PLOT_W
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="12" y="22" font-size="16" font-weight="bold">Hail vs ${run.cells.some((/** @type {any} */ c) => c.broker === 'ejabberd') ? 'mosquitto and ejabberd' : 'mosquitto'} — ${esc(run.preset)} run, ${esc(run.startedAt.slice(0, 16))}Z, ${run.machine.cpus} CPUs, medians of ${run.reps}</text>`,
    `<text x="12" y="42" fill="#555">Green: the broker does better than the line (or meets the goal); red: worse. Log scale from 1/${1 / MIN}× to ${MAX}×; a bar at the edge goes further (its label gives the figure).</text>`
  ]
  let y = 60
  for (const panel of panels) {
    const top = y + 40
    const bottom = y + panelH(panel) - 30
    out.push(`<text x="12" y="${y + 18}" font-size="14" font-weight="bold">${esc(panel.title)}</text>`)
    for (let t = MIN; t <= MAX; t *= 2) {
      out.push(`<line x1="${x(t)}" y1="${top - 6}" x2="${x(t)}" y2="${bottom}" stroke="${t === 1 ? '#222' : '#e6e6e6'}" stroke-width="${t === 1 ? 2 : 1}"/>`)
      out.push(`<text x="${x(t)}" y="${bottom + 14}" text-anchor="middle" fill="#555" font-size="10">${t < 1 ? `1/${1 / t}` : t}×</text>`)
    }
    out.push(`<text x="${x(1)}" y="${top - 10}" text-anchor="middle" font-weight="bold">${panel.base}</text>`)
    let ry = top
    for (const row of panel.rows) {
      out.push(`<text x="${LEFT - 10}" y="${ry + BAR_H - 2}" text-anchor="end">${esc(row.label.length > 46 ? row.label.slice(0, 45) + '…' : row.label)}<title>${esc(row.label)}</title></text>`)
      out.push(`<text x="${LEFT - 10}" y="${ry + BAR_H + 11}" text-anchor="end" fill="#888" font-size="10">${esc(row.sub)}</text>`)
      for (const bar of row.bars) {
        if (bar.r === null) {
          out.push(`<text x="${x(1) + 6}" y="${ry + BAR_H - 3}" fill="#888">${esc(bar.name)}: ${esc(bar.note)}</text>`)
        } else {
          const x0 = Math.min(x(1), x(bar.r))
          const w = Math.max(2, Math.abs(x(bar.r) - x(1)))
          out.push(`<rect x="${x0}" y="${ry}" width="${w}" height="${BAR_H}" fill="${bar.good ? GREEN : RED}"><title>${esc(bar.name)}: ${bar.r.toFixed(2)}× ${panel.base}</title></rect>`)
          // Labels always right of the bar and of the 1× line, so they never run into the row titles.
          out.push(`<text x="${Math.max(x(1), x(bar.r)) + 4}" y="${ry + BAR_H - 3}">${esc(bar.name)} ${bar.r < 0.01 ? bar.r.toExponential(1) : bar.r.toFixed(2)}×</text>`)
        }
        ry += BAR_H + 4
      }
      ry += 16
    }
    y += panelH(panel)
  }
  out.push('</svg>')
  return out.join('\n') + '\n'
}
