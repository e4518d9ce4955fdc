// Types shared by the scenarios (JSDoc only).

/**
 * @typedef {object} RunContext
 * @property {string} workDir a temporary directory for the whole run
 * @property {Record<string, any>} cache what scenarios keep between repetitions (seeded data directories)
 */

/**
 * @typedef {object} Scenario
 * @property {string} name
 * @property {string} title
 * @property {(params: any) => string} describe
 * @property {{ key: string, label: string, better: 'higher' | 'lower', ratio?: boolean }[]} headline the figures the table shows (ratio: false, no "× mosq" column or bar: a count, not a cost)
 * @property {(brokerName: string, params: any, ctx: RunContext) => Promise<{ seedDir?: string, extraArgs?: string[], beforeStart?: (redisUrl: string) => Promise<void> }>} [brokerOptions]
 * @property {(brokerName: string) => string | null} [notApplicable] a reason this cell cannot run, or null
 * @property {number} [maxReps] at most this many repetitions, whatever --reps says (the crash cells: one run is ten kills)
 * @property {string} [launchAs] the process to start instead of the cell's broker (the SFU host)
 * @property {(a: { broker: import('../lib/brokers.mjs').Broker, load: import('../lib/load-process.mjs').LoadProcess, params: any, run: string, ctx: RunContext, cell: { scenario: string, broker: string } }) => Promise<Record<string, any>>} run
 */

export {}
