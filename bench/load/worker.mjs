// The load generator process: the harness forks it, pins it to its own CPU
// and drives it over IPC with {id, scenario, op, args}; answers {id, ok, result | error}.

/** Loaded on first use: werift (the SFU cell) takes a while to import. @type {Record<string, () => Promise<() => Record<string, (args: any) => unknown>>>} */
const factories = {
  fanin: async () => (await import('./fanin-load.mjs')).createFanin,
  'fanin-crash': async () => (await import('./fanin-crash-load.mjs')).createFaninCrash,
  'chat-crash': async () => (await import('./chat-crash-load.mjs')).createChatCrash,
  frozen: async () => (await import('./frozen-load.mjs')).createFrozen,
  idle: async () => (await import('./idle-load.mjs')).createIdle,
  drain: async () => (await import('./drain-load.mjs')).createDrain,
  chat: async () => (await import('./chat-load.mjs')).createChat,
  group: async () => (await import('./group-load.mjs')).createGroup,
  sfu: async () => (await import('./sfu-load.mjs')).createSfu,
  invite: async () => (await import('./invite-load.mjs')).createInvite
}
/** @type {Map<string, Record<string, (args: any) => unknown>>} */
const scenarios = new Map()

process.on('message', async (/** @type {any} */ msg) => {
  try {
    let scenario = scenarios.get(msg.scenario)
    if (scenario === undefined) {
      const factory = factories[msg.scenario]
      if (factory === undefined) throw new Error(`unknown scenario ${msg.scenario}`)
      scenario = (await factory())()
      scenarios.set(msg.scenario, scenario)
    }
    const op = scenario[msg.op]
    if (op === undefined) throw new Error(`unknown op ${msg.scenario}.${msg.op}`)
    const result = await op(msg.args ?? {})
    process.send?.({ id: msg.id, ok: true, result })
  } catch (err) {
    process.send?.({ id: msg.id, ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) })
  }
})
process.on('disconnect', () => process.exit(0))
// A client error after connect (a broker dropping a socket) is reported by the scenario's counts, not fatal.
process.on('uncaughtException', (err) => { process.stderr.write(`bench load worker: ${err.stack ?? err}\n`) })
