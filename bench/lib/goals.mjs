// The goals issue 6 holds Hail to, checked against a run: the gap, stated plainly.
import { num, ratio, value } from './figures.mjs'

/**
 * @typedef {object} Goal
 * @property {string} scenario
 * @property {string} broker a broker name, or a prefix ending in '*' (SFU shapes)
 * @property {string} key the metric
 * @property {'ratio' | 'abs'} kind ratio: against mosquitto in the same run
 * @property {'<=' | '>='} op
 * @property {number} target
 * @property {string} text
 * @property {(params: any) => number} [targetFrom] a target that depends on the run's parameters
 */

/** @type {Goal[]} */
export const GOALS = [
  { scenario: 'fanin', broker: 'hail', key: 'cpuUsPerMsg', kind: 'ratio', op: '<=', target: 1.5, text: 'fan-in CPU per message within 1.5× of mosquitto' },
  { scenario: 'chat', broker: 'hail', key: 'cpuUsPerMsg', kind: 'ratio', op: '<=', target: 1.5, text: 'chat CPU per message within 1.5× of mosquitto (durable)' },
  { scenario: 'chat', broker: 'hail', key: 'p99', kind: 'abs', op: '<=', target: 50, text: 'chat p99 ≤ 50 ms' },
  { scenario: 'connections', broker: 'hail', key: 'kibPerConn', kind: 'abs', op: '<=', target: 7000 / 1024, text: '≤ 7 KB per idle connection' },
  { scenario: 'drain', broker: 'hail', key: 'drainMs', kind: 'ratio', op: '<=', target: 2, text: 'offline drain within 2× of mosquitto' },
  { scenario: 'chat', broker: 'hail-redis', key: 'throughput', kind: 'abs', op: '>=', target: 5000, targetFrom: (p) => 0.95 * p.rate, text: 'Redis mode holds the offered chat rate (5k msg/s in the full run)' },
  { scenario: 'chat', broker: 'hail-redis', key: 'p99', kind: 'abs', op: '<=', target: 100, text: 'Redis mode chat p99 ≤ 100 ms' },
  { scenario: 'sfu', broker: 'hail-*', key: 'ppsPerCore', kind: 'abs', op: '>=', target: 40_000, text: 'SFU ≥ 40k forwarded packets/s per core' },
  { scenario: 'sfu', broker: 'hail-*', key: 'p50', kind: 'abs', op: '<=', target: 2, text: 'SFU adds ≤ 2 ms p50' },
  { scenario: 'sfu', broker: 'hail-*', key: 'p99', kind: 'abs', op: '<=', target: 10, text: 'SFU adds ≤ 10 ms p99' },
  { scenario: 'invite', broker: 'hail', key: 'p95', kind: 'abs', op: '<=', target: 500, text: 'invite → first media p95 ≤ 500 ms on loopback' }
]

/**
 * Every goal with the cells it applies to in this run, and how far each is.
 * @param {any} run
 * @returns {{ goal: Goal, broker: string, actual: number | null, target: number, met: boolean | null, shown: string }[]}
 */
export function checkGoals (run) {
  const out = []
  for (const goal of GOALS) {
    const cells = run.cells.filter((c) => c.scenario === goal.scenario && (goal.broker.endsWith('*') ? c.broker.startsWith(goal.broker.slice(0, -1)) : c.broker === goal.broker))
    for (const cell of cells) {
      const target = goal.targetFrom?.(cell.params) ?? goal.target
      const actual = cell.status !== 'ok' ? null : goal.kind === 'ratio' ? ratio(run, goal.scenario, cell.broker, goal.key) : value(cell.summary[goal.key])
      const met = actual === null ? null : goal.op === '<=' ? actual <= target : actual >= target
      const unit = goal.kind === 'ratio' ? '×' : ''
      const shown = actual === null ? (cell.status === 'ok' ? 'no figure' : `${cell.status}`) : `${num(actual)}${unit} (goal ${goal.op} ${num(target)}${unit})`
      out.push({ goal, broker: cell.broker, actual, target, met, shown })
    }
  }
  return out
}

/** The goals as Markdown lines. @param {any} run */
export function goalsMarkdown (run) {
  const rows = checkGoals(run)
  if (rows.length === 0) return []
  return [
    '### Goals (issue 6)',
    '',
    ...(run.preset === 'full' ? [] : [`A ${run.preset} run: the goals are stated for the full matrix's sizes, so "met" and "missed" here are indicative only.`, '']),
    '| goal | cell | this run | |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.goal.text} | ${r.goal.scenario}:${r.broker} | ${r.shown} | ${r.met === null ? '–' : r.met ? 'met' : '**missed**'} |`),
    ''
  ]
}
