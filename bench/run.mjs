#!/usr/bin/env node
// `npm run bench`: Hail side by side with mosquitto, one run, reported as ratios.
// Plain modern JS with JSDoc types: the bench is a tool of the repository,
// not part of the published library, so it stays out of tsconfig and dist/.
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { spawnSync } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { HAIL_BIN, MOSQUITTO, NotApplicable, hailHasRedis, startBroker } from './lib/brokers.mjs'
import { HELP, brokerSkips, parseArgs, planCells } from './lib/cli.mjs'
import { LoadProcess } from './lib/load-process.mjs'
import { pin, waitQuiet } from './lib/proc.mjs'
import { renderMarkdown } from './lib/report-md.mjs'
import { renderSvg } from './lib/report-svg.mjs'
import { summarise } from './lib/summary.mjs'
import { chat } from './scenarios/chat.mjs'
import { chatCrash } from './scenarios/chat-crash.mjs'
import { chatOverload } from './scenarios/chat-overload.mjs'
import { group } from './scenarios/group.mjs'
import { connections } from './scenarios/connections.mjs'
import { drain } from './scenarios/drain.mjs'
import { fanin } from './scenarios/fanin.mjs'
import { faninCrash } from './scenarios/fanin-crash.mjs'
import { frozen } from './scenarios/frozen.mjs'
import { invite } from './scenarios/invite.mjs'
import { sfu } from './scenarios/sfu.mjs'

/** What runs now, so that Ctrl-C or SIGTERM stops it instead of leaving brokers behind. */
/** @type {{ broker: import('./lib/brokers.mjs').Broker | undefined, load: LoadProcess | undefined }} */
let current = { broker: undefined, load: undefined }
for (const [signal, code] of /** @type {const} */ ([['SIGINT', 130], ['SIGTERM', 143]])) {
  process.once(signal, () => {
    process.stderr.write(`bench: ${signal}: stopping the broker and the load generator\n`)
    const { broker, load } = current
    Promise.allSettled([load?.close(), broker?.stop()]).finally(() => process.exit(code))
  })
}

/** @type {Record<string, import('./scenarios/types.mjs').Scenario>} */
const SCENARIOS = { fanin, frozen, connections, drain, chat, 'chat-overload': chatOverload, group, sfu, invite, 'fanin-crash': faninCrash, 'chat-crash': chatCrash }

async function main () {
  let options
  try {
    options = parseArgs(process.argv.slice(2))
  } catch (err) {
    process.stderr.write(`bench: ${/** @type {Error} */ (err).message}\n`)
    return 2
  }
  if (options.help) {
    process.stdout.write(HELP)
    return 0
  }
  if (options.render !== null) {
    const saved = JSON.parse(await readFile(options.render, 'utf8'))
    const stem = options.render.replace(/\.json$/, '')
    await writeFile(`${stem}.md`, renderMarkdown(saved))
    await writeFile(`${stem}.svg`, renderSvg(saved))
    process.stdout.write(`wrote ${stem}.md and ${stem}.svg\n`)
    return 0
  }
  let plan
  try {
    plan = planCells(options)
  } catch (err) {
    process.stderr.write(`bench: ${/** @type {Error} */ (err).message}\n`)
    return 2
  }
  const { cells, params, reps } = plan
  const twoCpus = cpus().length >= 2
  if (options.list) {
    for (const c of cells) process.stdout.write(`${c.scenario}:${c.broker}  ${SCENARIOS[c.scenario].describe(params[c.scenario])}\n`)
    return 0
  }
  if (twoCpus) pin(process.pid, 1) // the harness itself stays off the broker's CPU
  const startedAt = new Date()
  const stem = `${startedAt.toISOString().replace(/[:.]/g, '-').slice(0, 19)}-${options.preset}`
  const profileDir = options.profile ? join(options.out, 'profiles', stem) : undefined
  if (profileDir !== undefined) await mkdir(profileDir, { recursive: true })
  const workDir = await mkdtemp(join(tmpdir(), 'hail-bench-run-'))
  /** @type {import('./scenarios/types.mjs').RunContext} */
  const ctx = { workDir, cache: {} }
  const log = (/** @type {string} */ line) => process.stderr.write(`[${((Date.now() - startedAt.getTime()) / 1000).toFixed(0).padStart(4)} s] ${line}\n`)
  log(`${cells.length} cells × ${reps} repetitions, preset ${options.preset}; broker on CPU 0, load on CPU 1${twoCpus ? '' : ' (one CPU: not pinned)'}`)

  const results = []
  for (const cell of cells) {
    const scenario = SCENARIOS[cell.scenario]
    const p = params[cell.scenario]
    const label = `${cell.scenario}:${cell.broker}`
    const result = { ...cell, params: p, status: 'ok', reason: /** @type {string | null} */ (null), reps: /** @type {any[]} */ ([]), summary: /** @type {any} */ ({}) }
    results.push(result)
    const na = scenario.notApplicable?.(cell.broker) ?? brokerSkips(cell.broker, cell.scenario)
    if (na !== null) {
      result.status = 'n/a'
      result.reason = na
      log(`${label}: ${na}`)
      continue
    }
    const cellReps = Math.min(reps, scenario.maxReps ?? reps)
    for (let rep = 1; rep <= cellReps; rep++) {
      const quiet = options.wait ? await waitQuiet({ minIdle: options.minIdle, capMs: (options.quietCapSeconds ?? (options.preset === 'full' ? 20 : 5)) * 1000 }) : null
      /** @type {import('./lib/brokers.mjs').Broker | undefined} */
      let broker
      /** @type {LoadProcess | undefined} */
      let load
      const t0 = Date.now()
      current = { broker: undefined, load: undefined }
      try {
        const extra = await scenario.brokerOptions?.(cell.broker, p, ctx) ?? {}
        broker = current.broker = await startBroker(scenario.launchAs ?? cell.broker, { cpu: 0, profileDir, ...extra })
        load = current.load = new LoadProcess({ cpu: 1 })
        const crashed = broker.crashed.then((why) => { throw new Error(why) })
        const metrics = await Promise.race([scenario.run({ broker, load, params: p, run: `${rep}${Date.now().toString(36)}`, ctx, cell }), crashed])
        result.reps.push({ rep, seconds: (Date.now() - t0) / 1000, quiet, metrics })
        log(`${label} #${rep}: ${headline(scenario, metrics)}${quiet !== null && !quiet.quiet ? ` (busy machine: ${Math.round(quiet.idle * 100)}% idle)` : ''}`)
      } catch (err) {
        if (err instanceof NotApplicable) {
          result.status = 'n/a'
          result.reason = err.message
          log(`${label}: ${err.message}`)
          break
        }
        const message = /** @type {Error} */ (err).message
        result.reps.push({ rep, seconds: (Date.now() - t0) / 1000, quiet, error: message, brokerLog: broker?.log().slice(-1000) ?? null })
        log(`${label} #${rep}: ERROR ${message.split('\n')[0]}`)
        if (rep === 1) {
          // A cell that fails at once will most likely fail again: do not spend the matrix's time on it.
          log(`${label}: not repeated after its first repetition failed`)
          break
        }
      } finally {
        await load?.close()
        await broker?.stop()
      }
    }
    if (result.status === 'ok') {
      const good = result.reps.filter((r) => r.metrics !== undefined)
      if (good.length === 0) {
        result.status = 'error'
        result.reason = result.reps[0]?.error?.split('\n')[0] ?? 'no repetition ran'
      } else {
        result.summary = summarise(good.map((r) => r.metrics))
      }
    }
  }
  await rm(workDir, { recursive: true, force: true })

  const run = {
    version: 1,
    startedAt: startedAt.toISOString(),
    seconds: (Date.now() - startedAt.getTime()) / 1000,
    preset: options.preset,
    reps,
    machine: machine(),
    scenarios: Object.fromEntries(Object.values(SCENARIOS).map((s) => [s.name, { title: s.title, description: s.describe(params[s.name]), headline: s.headline }])),
    cells: results
  }
  await mkdir(options.out, { recursive: true })
  const files = {
    json: join(options.out, `${stem}.json`),
    md: join(options.out, `${stem}.md`),
    svg: join(options.out, `${stem}.svg`)
  }
  await writeFile(files.json, JSON.stringify(run, null, 2) + '\n')
  await writeFile(files.md, renderMarkdown(run))
  await writeFile(files.svg, renderSvg(run))
  for (const [ext, file] of Object.entries(files)) await copyFile(file, join(options.out, `latest.${ext}`))
  log(`done in ${run.seconds.toFixed(0)} s: ${files.json} (.md, .svg; also latest.*)${profileDir === undefined ? '' : `; CPU profiles in ${profileDir}`}`)
  process.stdout.write(renderMarkdown(run))
  return results.some((r) => r.status === 'error') ? 1 : 0
}

/** @param {import('./scenarios/types.mjs').Scenario} scenario @param {Record<string, any>} m */
function headline (scenario, m) {
  const parts = scenario.headline.map((h) => `${h.label} ${m[h.key] ?? '–'}`)
  parts.push(`loss ${m.loss}`, `dup ${m.duplicates}`)
  return parts.join(', ')
}

function machine () {
  const cpu = cpus()
  /** @param {string} cmd @param {string[]} args */
  const version = (cmd, args) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' })
    return r.error === undefined ? `${r.stdout}${r.stderr}`.trim().split('\n')[0] : null
  }
  return {
    cpus: cpu.length,
    model: cpu[0]?.model ?? 'unknown',
    memGiB: Math.round(totalmem() / 2 ** 30),
    loadavgAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
    node: process.version,
    mosquitto: version(MOSQUITTO, ['-h']),
    redis: version('redis-server', ['--version']),
    ejabberd: ejabberdVersion(),
    hail: version(process.execPath, [HAIL_BIN, '--version']),
    hailHasRedis: (() => { try { return hailHasRedis() } catch { return null } })(),
    pinned: cpu.length >= 2
  }
}

/** The installed ejabberd package's version (ejabberd reports none without a running node), or null. */
function ejabberdVersion () {
  const r = spawnSync('dpkg-query', ['-W', '-f', '$' + '{Version}', 'ejabberd'], { encoding: 'utf8' })
  return r.status === 0 && r.stdout.trim() !== '' ? `ejabberd ${r.stdout.trim()}` : null
}

process.exitCode = await main()
