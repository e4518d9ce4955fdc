import t from 'tap'
import { AppUser, startWebDaemon } from '../helpers/web-app.js'

// The operator's dashboard in real Chromium: live figures while the bench's
// chat load runs against the daemon, and a refusal for users who are not
// admins.

const TEST = 'web-dashboard'
const users = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6']
const web = await startWebDaemon(t, { users: ['root', 'alice', ...users], admins: ['root'] })

t.test('an admin sees messages per second, connections and store latency move while the bench\'s chat load runs', async (t) => {
  const root = await AppUser.open(t, web.base, 'root', '/dashboard')
  await root.signIn(root.page, 'dashboard')
  await root.page.waitForSelector('#panel-messages')
  // The bench's own chat load (bench/load/chat-load.mjs, the chat cell's generator) against this daemon:
  // six users with persistent sessions writing to two partners each over Hail's IM protocol.
  const { createChat } = await import('../../bench/load/chat-load.mjs') as { createChat: () => ChatLoad }
  const chat = createChat()
  t.teardown(() => chat.close())
  await chat.connect({ port: Number(new URL(web.mqttUrl).port), clients: users.length, partners: 2, mode: 'hail', creds: users.map((u) => ({ user: u, password: `${u}-pw` })), run: 'dash' })
  await chat.warmup()
  const running = chat.run({ rate: 200, seconds: 25, graceMs: 10_000 })
  await root.page.waitForFunction(() => {
    const text = document.querySelector('[data-figure=messages]')?.textContent ?? ''
    const m = /in (\d[\d,.]*) · out (\d[\d,.]*)/.exec(text)
    return m !== null && Number(m[1]!.replace(/,/g, '')) >= 50 && Number(m[2]!.replace(/,/g, '')) >= 50
  }, undefined, { timeout: 60_000, polling: 500 })
  t.pass(`messages in and out per second show (${await root.page.textContent('[data-figure=messages]')})`)
  const connections = Number((await root.page.textContent('[data-figure=connections]'))!.replace(/,/g, ''))
  t.ok(connections >= users.length, `connections: ${connections} (the load's ${users.length})`)
  t.match(await root.page.textContent('[data-figure=store]'), /mean [\d.]+ ms/, 'the store\'s synced writes are timed')
  await root.page.waitForTimeout(6000)
  await root.shoot(TEST, '01-under-load')
  const result = await running
  t.equal(result.loss, 0, `the load's ${result.sent} messages all arrived`)
  t.same(root.errors(), [], 'no console errors')
})

interface ChatLoad {
  connect: (a: { port: number, clients: number, partners: number, mode: 'hail', creds: Array<{ user: string, password: string }>, run: string }) => Promise<unknown>
  warmup: () => Promise<unknown>
  run: (a: { rate: number, seconds: number, graceMs: number }) => Promise<{ sent: number, loss: number }>
  close: () => Promise<unknown>
}

t.test('a user who is not an admin is told so, and sees no figures', async (t) => {
  const alice = await AppUser.open(t, web.base, 'alice', '/dashboard')
  await alice.signIn(alice.page, 'dashboard')
  await alice.page.waitForSelector('#dash-problem')
  t.match(await alice.page.textContent('#dash-problem'), /Only admins see the dashboard/)
  t.equal(await alice.page.$('#panel-messages'), null)
  await alice.shoot(TEST, '02-not-admin')
})
