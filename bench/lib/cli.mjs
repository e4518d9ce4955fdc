// Command line of `npm run bench`, and the parameter presets of the matrix.

export const HELP = `Usage: npm run bench -- [options]

Runs Hail side by side with mosquitto and writes bench/results/<time>.{json,md,svg}
(and latest.*). Figures are medians of the repetitions, with min..max.

  --quick              smaller cells, 1 repetition (about 5-6 minutes)
  --tiny               toy sizes for the smoke test (seconds; figures meaningless)
  --only LIST          cells to run: scenario or scenario:broker, comma-separated,
                       e.g. --only fanin:hail  or  --only fanin,chat:mosquitto
  --brokers LIST       brokers (default mosquitto,ejabberd,hail,hail-redis; also
                       mosquitto-mem: mosquitto with persistence false). ejabberd
                       (XMPP, Debian's package, with MAM) runs the chat cells only;
                       ejabberd-nomam: the same without message archiving
  --reps N             repetitions per cell (default 3, --quick 1)
  --set S.K=V          override a parameter, e.g. --set chat.rate=2000 (repeatable)
  --out DIR            where results go (default bench/results)
  --no-wait            do not wait for the machine to be quiet before each cell
  --quiet-cap S        longest wait for quiet before a repetition, in seconds
                       (default 20, --quick 5)
  --min-idle F         idle fraction of all CPUs that counts as quiet (default 0.85)
  --profile            write a V8 CPU profile of every Hail process to
                       OUT/profiles/<run>/ (open in Chrome DevTools or speedscope)
  --list               print the cells and parameters, run nothing
  --render FILE.json   rewrite FILE.md and FILE.svg from a run's JSON, run nothing
  -h, --help           this text

Scenarios: fanin, frozen, connections, drain, chat, chat-overload, group, sfu, invite (call
set-up; hail only), fanin-crash and chat-crash (the fan-in and chat flows while the
broker is killed with SIGKILL ten times and restarted on its data directory;
chat-crash: hail and hail-redis only; one repetition whatever --reps says). frozen: readers alone, then beside a subscriber that never reads;
its full cell measures 10 + 90 s, as the frozen socket's buffers fill first (quick's
40 s window ends before Hail cuts it). SFU cells are named by shape,
hail-PxS = P publishers → S subscribers (--set sfu.shapes=hail-1x10,hail-8x10), one room in
the SFU's main thread; hail-wN-PxS = the whole node: N media worker threads, N such rooms.
`

/** Parameters per scenario for each preset. */
export const PRESETS = {
  full: {
    fanin: { publishers: 50, size: 256, window: 10, warmupSeconds: 2, seconds: 8 },
    // The frozen socket's buffers take ~25 s to fill at this rate (~4 MB of the broker's send
    // buffer), then Hail cuts it: at 50 s in quick runs on 2026-12-07. The window covers both.
    frozen: { subscribers: 200, rate: 20, size: 8192, warmupSeconds: 2, baselineSeconds: 10, frozenSeconds: 90, graceSeconds: 30 },
    connections: { count: 10_000, concurrency: 100, settleSeconds: 3 },
    drain: { messages: 100_000, size: 256, timeoutSeconds: 240 },
    chat: { clients: 1000, partners: 2, rate: 5000, seconds: 20, graceSeconds: 40 },
    // 4× the knee Hail showed on the 2-core bench machine (about 3,000 msg/s, 2026-12-07)
    'chat-overload': { clients: 1000, partners: 2, rate: 12_000, seconds: 20, graceSeconds: 60, probeRate: 10 },
    // 50 msg/s into groups of 200: 10,000 copies/s (issue 12)
    group: { groups: 5, members: 200, rate: 50, seconds: 20, graceSeconds: 40 },
    sfu: { shapes: 'hail-1x10,hail-4x10,hail-w2-4x10', pps: 200, size: 1000, warmupSeconds: 2, seconds: 8 },
    invite: { calls: 10 },
    'fanin-crash': { publishers: 50, size: 256, window: 10, kills: 10, minGapSeconds: 0.5, maxGapSeconds: 2, tailSeconds: 1, graceSeconds: 60, stallSeconds: 10 },
    'chat-crash': { clients: 1000, partners: 2, rate: 5000, kills: 10, minGapSeconds: 0.5, maxGapSeconds: 2, tailSeconds: 1, graceSeconds: 120, stallSeconds: 15 }
  },
  quick: {
    fanin: { publishers: 50, size: 256, window: 10, warmupSeconds: 1, seconds: 3 },
    // 40 s covers the frozen socket filling, not Hail's cut (--set frozen.frozenSeconds=90 for it)
    frozen: { subscribers: 50, rate: 20, size: 8192, warmupSeconds: 1, baselineSeconds: 5, frozenSeconds: 40, graceSeconds: 15 },
    connections: { count: 1000, concurrency: 100, settleSeconds: 1 },
    drain: { messages: 5000, size: 256, timeoutSeconds: 60 },
    chat: { clients: 100, partners: 2, rate: 300, seconds: 5, graceSeconds: 15 },
    'chat-overload': { clients: 100, partners: 2, rate: 2000, seconds: 5, graceSeconds: 15, probeRate: 10 },
    group: { groups: 2, members: 50, rate: 50, seconds: 5, graceSeconds: 15 },
    sfu: { shapes: 'hail-1x10,hail-w2-1x10', pps: 100, size: 1000, warmupSeconds: 1, seconds: 3 },
    invite: { calls: 3 },
    'fanin-crash': { publishers: 20, size: 256, window: 10, kills: 10, minGapSeconds: 0.2, maxGapSeconds: 1, tailSeconds: 0.5, graceSeconds: 30, stallSeconds: 5 },
    'chat-crash': { clients: 100, partners: 2, rate: 1000, kills: 10, minGapSeconds: 0.2, maxGapSeconds: 1, tailSeconds: 0.5, graceSeconds: 60, stallSeconds: 10 }
  },
  tiny: {
    fanin: { publishers: 4, size: 64, window: 2, warmupSeconds: 0.5, seconds: 2 },
    frozen: { subscribers: 3, rate: 20, size: 1024, warmupSeconds: 0.3, baselineSeconds: 1, frozenSeconds: 1, graceSeconds: 10 },
    connections: { count: 30, concurrency: 10, settleSeconds: 0.2 },
    drain: { messages: 300, size: 64, timeoutSeconds: 30 },
    chat: { clients: 6, partners: 1, rate: 60, seconds: 1, graceSeconds: 10 },
    'chat-overload': { clients: 6, partners: 1, rate: 120, seconds: 1, graceSeconds: 10, probeRate: 5 },
    group: { groups: 1, members: 5, rate: 20, seconds: 1, graceSeconds: 10 },
    sfu: { shapes: 'hail-1x2', pps: 20, size: 200, warmupSeconds: 0.5, seconds: 1 },
    invite: { calls: 2 },
    // three kills, not ten: the smoke test (test/bench/run.test.ts) asserts lost === 0 within seconds
    'fanin-crash': { publishers: 4, size: 64, window: 4, kills: 3, minGapSeconds: 0.1, maxGapSeconds: 0.3, tailSeconds: 0.2, graceSeconds: 15, stallSeconds: 3 },
    'chat-crash': { clients: 6, partners: 1, rate: 100, kills: 3, minGapSeconds: 0.1, maxGapSeconds: 0.3, tailSeconds: 0.2, graceSeconds: 20, stallSeconds: 5 }
  }
}

export const ALL_SCENARIOS = ['fanin', 'frozen', 'connections', 'drain', 'chat', 'chat-overload', 'group', 'sfu', 'invite', 'fanin-crash', 'chat-crash']
export const DEFAULT_BROKERS = ['mosquitto', 'ejabberd', 'hail', 'hail-redis']
/** Brokers that run only some scenarios: an XMPP server has no MQTT fan-in, drain or idle sessions to compare. */
export const BROKER_SCENARIOS = /** @type {Record<string, string[]>} */ ({ ejabberd: ['chat'], 'ejabberd-nomam': ['chat'] })

/** Why `broker` does not run `scenario`, or null. @param {string} broker @param {string} scenario */
export function brokerSkips (broker, scenario) {
  const only = BROKER_SCENARIOS[broker]
  return only === undefined || only.includes(scenario) ? null : `n/a: ${broker} runs the ${only.join(', ')} cells only`
}

/** @param {string[]} argv */
export function parseArgs (argv) {
  const o = {
    preset: /** @type {'full' | 'quick' | 'tiny'} */ ('full'),
    only: /** @type {string[] | null} */ (null),
    brokers: DEFAULT_BROKERS,
    reps: /** @type {number | null} */ (null),
    sets: /** @type {string[]} */ ([]),
    out: new URL('../results/', import.meta.url).pathname,
    wait: true,
    quietCapSeconds: /** @type {number | null} */ (null),
    minIdle: 0.85,
    list: false,
    profile: false,
    render: /** @type {string | null} */ (null),
    help: false
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const value = () => {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${arg} needs a value`)
      return v
    }
    switch (arg) {
      case '--quick': o.preset = 'quick'; break
      case '--tiny': o.preset = 'tiny'; break
      case '--only': o.only = value().split(',').filter(Boolean); break
      case '--brokers': o.brokers = value().split(',').filter(Boolean); break
      case '--reps': o.reps = positive(arg, value()); break
      case '--set': o.sets.push(value()); break
      case '--out': o.out = value(); break
      case '--no-wait': o.wait = false; break
      case '--quiet-cap': o.quietCapSeconds = positive(arg, value()); break
      case '--min-idle': o.minIdle = Number(value()); break
      case '--list': o.list = true; break
      case '--profile': o.profile = true; break
      case '--render': o.render = value(); break
      case '-h': case '--help': o.help = true; break
      default: throw new Error(`unknown option ${arg} (see --help)`)
    }
  }
  return o
}

/** @param {string} flag @param {string} v */
function positive (flag, v) {
  const n = Number(v)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} wants a positive number, not ${v}`)
  return n
}

/**
 * The cells to run, in order: scenarios outer, brokers inner (so the
 * brokers of one scenario run close together in time).
 * @param {ReturnType<typeof parseArgs>} o
 */
export function planCells (o) {
  const params = structuredClone(PRESETS[o.preset])
  for (const s of o.sets) {
    const m = /^([\w-]+)\.(\w+)=(.+)$/.exec(s)
    if (m === null || !(m[1] in params)) throw new Error(`bad --set ${s}: want scenario.key=value`)
    const num = Number(m[3])
    const group = /** @type {Record<string, any>} */ (/** @type {any} */ (params)[m[1]])
    group[m[2]] = Number.isNaN(num) ? m[3] : num
  }
  /** @type {{ scenario: string, broker: string }[]} */
  const cells = []
  for (const scenario of ALL_SCENARIOS) {
    const brokers = scenario === 'sfu'
      ? params.sfu.shapes.split(',')
      : scenario === 'invite' ? ['hail'] : scenario === 'chat-crash' ? o.brokers.filter((b) => b.startsWith('hail')) : o.brokers
    for (const broker of brokers) {
      if (o.only !== null && !o.only.some((sel) => sel === scenario || sel === `${scenario}:${broker}`)) continue
      // Left out unless asked for by name (then the cell says n/a and why).
      if (brokerSkips(broker, scenario) !== null && !(o.only ?? []).includes(`${scenario}:${broker}`)) continue
      cells.push({ scenario, broker })
    }
  }
  if (o.only !== null) {
    for (const sel of o.only) {
      const [s] = sel.split(':')
      if (!ALL_SCENARIOS.includes(s)) throw new Error(`--only ${sel}: no scenario ${s} (${ALL_SCENARIOS.join(', ')})`)
    }
  }
  return { cells, params, reps: o.reps ?? (o.preset === 'full' ? 3 : 1) }
}
