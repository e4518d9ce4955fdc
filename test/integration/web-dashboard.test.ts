import t from 'tap'
import { AppUser, nodeClient, startWebDaemon } from '../helpers/web-app.js'

// The operator's dashboard in real Chromium: live figures while a chat load
// runs against the daemon (a small version of the bench's chat cell: users
// on the SDK writing to each other's direct conversations), and a refusal
// for users who are not admins.

const TEST = 'web-dashboard'
const users = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6']
const web = await startWebDaemon(t, { users: ['root', 'alice', ...users], admins: ['root'] })

t.test('an admin sees messages per second, connections and store latency move while chat load runs', async (t) => {
  const root = await AppUser.open(t, web.base, 'root', '/dashboard')
  await root.signIn(root.page, 'dashboard')
  await root.page.waitForSelector('#panel-messages')
  // Load: six users, each writing to the next, about 150 messages a second in all, for a bounded time.
  const clients = await Promise.all(users.map(async (u) => await nodeClient(t, web.mqttUrl, u, 'load')))
  const convs = await Promise.all(clients.map(async (c, i) => await c.openDirect(users[(i + 1) % users.length]!)))
  let running = true
  let sent = 0
  const load = (async () => {
    const until = Date.now() + 25_000
    while (running && Date.now() < until) {
      await Promise.all(clients.map(async (c, i) => { await c.text(convs[i]!, `load ${sent}`); sent++ }))
      await new Promise((resolve) => setTimeout(resolve, 40))
    }
  })()
  t.teardown(async () => { running = false; await load })
  await root.page.waitForFunction(() => {
    const text = document.querySelector('[data-figure=messages]')?.textContent ?? ''
    const m = /in (\d[\d,.]*) · out (\d[\d,.]*)/.exec(text)
    return m !== null && Number(m[1]!.replace(/,/g, '')) >= 20 && Number(m[2]!.replace(/,/g, '')) >= 20
  }, undefined, { timeout: 60_000, polling: 500 })
  t.pass(`messages in and out per second show (${await root.page.textContent('[data-figure=messages]')})`)
  const connections = Number((await root.page.textContent('[data-figure=connections]'))!.replace(/,/g, ''))
  t.ok(connections >= users.length + 1, `connections: ${connections} (the load's ${users.length} and the page's own)`)
  t.match(await root.page.textContent('[data-figure=store]'), /mean [\d.]+ ms/, 'the store\'s synced writes are timed')
  await root.page.waitForTimeout(4000)
  await root.shoot(TEST, '01-under-load')
  running = false
  await load
  t.ok(sent > 100, `the load sent ${sent} messages`)
  t.same(root.errors(), [], 'no console errors')
})

t.test('a user who is not an admin is told so, and sees no figures', async (t) => {
  const alice = await AppUser.open(t, web.base, 'alice', '/dashboard')
  await alice.signIn(alice.page, 'dashboard')
  await alice.page.waitForSelector('#dash-problem')
  t.match(await alice.page.textContent('#dash-problem'), /Only admins see the dashboard/)
  t.equal(await alice.page.$('#panel-messages'), null)
  await alice.shoot(TEST, '02-not-admin')
})
