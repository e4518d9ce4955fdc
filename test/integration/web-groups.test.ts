import t from 'tap'
import { AppUser, shownTexts, startWebDaemon } from '../helpers/web-app.js'

// Groups and channels in the web app, three people in three browsers.

const TEST = 'web-groups'
const web = await startWebDaemon(t, { users: ['alice', 'bob', 'carol', 'dave'] })
const alice = await AppUser.open(t, web.base, 'alice')
const bob = await AppUser.open(t, web.base, 'bob')
const carol = await AppUser.open(t, web.base, 'carol')
await alice.signIn()
await bob.signIn()
await carol.signIn()

t.test('a group of three: everyone reads everyone, ticks turn read when all have read, and its owner runs it', async (t) => {
  await alice.page.click('#new-menu')
  await alice.page.click('text=New group')
  await alice.page.fill('#form-group input[name=name]', 'Trip')
  await alice.page.fill('#form-group input[name=members]', 'bob, carol')
  await alice.page.click('#form-group button[type=submit]')
  await alice.page.waitForSelector('#conv-title:text-is("Trip")')
  await alice.send('Train at 9?')
  for (const user of [bob, carol]) {
    await user.page.waitForSelector('.conv-row:has(.conv-title:text-is("Trip"))', { timeout: 30_000 })
    await user.openConversation('Trip')
    await user.page.waitForSelector('.msg.theirs .text:text-is("Train at 9?")')
    t.match(await user.page.textContent('.system'), /alice created “Trip”/, `${user.name} sees who made it`)
  }
  await alice.page.waitForFunction(() => document.querySelector('.msg.mine [data-tick]')?.getAttribute('data-tick') === 'read', undefined, { timeout: 30_000 })
  t.pass('read once both others have read')
  await bob.send('Yes')
  await carol.send('9 works')
  for (const user of [alice, bob, carol]) {
    await user.page.waitForSelector('.text:text-is("9 works")', { timeout: 30_000 })
    t.same((await shownTexts(user.page)).slice(-3), ['Train at 9?', 'Yes', '9 works'], `${user.name} has all three, in order`)
  }
  t.equal(await carol.page.textContent('.msg.theirs:has(.text:text-is("Yes")) .sender'), 'bob', 'a group shows who wrote')
  await carol.shoot(TEST, '01-group')

  // The owner renames it and makes bob an admin; bob then removes carol, who sees it go.
  await alice.page.click('#conv-info')
  await alice.page.waitForSelector('#info-panel [data-member=bob]')
  await alice.page.fill('#info-panel input[name=name]', 'Trip to Lyon')
  await alice.page.click('#info-panel button:text-is("Rename")')
  await bob.page.waitForSelector('#conv-title:text-is("Trip to Lyon")', { timeout: 30_000 })
  await carol.page.waitForSelector('.system:text-is("alice renamed it “Trip to Lyon”")')
  await alice.page.click('#info-panel [data-member=bob] button:text-is("Make admin")')
  await alice.page.waitForSelector('#info-panel [data-member=bob] .tag:text-is("admin")')
  await alice.shoot(TEST, '02-group-info')
  await bob.page.click('#conv-info')
  await bob.page.waitForSelector('#info-panel [data-member=carol] button:text-is("Remove")')
  t.equal(await bob.page.$('#info-panel [data-member=carol] button:text-is("Make admin")'), null, 'an admin cannot give roles, only the owner')
  await bob.page.click('#info-panel [data-member=carol] button:text-is("Remove")')
  await carol.page.waitForSelector('.conv-row:has(.conv-title:text-matches("Trip"))', { state: 'detached', timeout: 30_000 })
  t.pass('carol no longer has the group')
  await alice.page.waitForSelector('.system:text-is("bob removed carol")')
  // Bob adds her back, then leaves.
  await bob.page.fill('#info-panel input[name=add]', 'carol')
  await bob.page.click('#info-panel button:text-is("Add")')
  await carol.page.waitForSelector('.conv-row:has(.conv-title:text-is("Trip to Lyon"))', { timeout: 30_000 })
  await bob.page.click('#leave')
  await bob.page.waitForSelector('.conv-row:has(.conv-title:text-is("Trip to Lyon"))', { state: 'detached', timeout: 30_000 })
  await alice.page.waitForSelector('.system:text-is("bob left")')
  t.pass('bob left; alice sees it')
})

t.test('a channel: its owner posts, others follow it by its id and read, but cannot post', async (t) => {
  await alice.page.click('#new-menu')
  await alice.page.click('text=New channel')
  await alice.page.fill('#form-channel input[name=name]', 'Announcements')
  await alice.page.click('#form-channel button[type=submit]')
  await alice.page.waitForSelector('#conv-title:text-is("Announcements")')
  await alice.send('Office closed on Friday')
  await alice.page.click('#conv-info')
  const id = (await alice.page.textContent('#channel-id'))!
  t.match(id, /^c:[a-z2-7]{12}$/)
  for (const user of [bob, carol]) {
    await user.page.click('#new-menu')
    await user.page.click('text=Follow a channel')
    await user.page.fill('#form-follow input[name=conv]', id)
    await user.page.click('#form-follow button[type=submit]')
    await user.page.waitForSelector('#conv-title:text-is("Announcements")', { timeout: 30_000 })
    await user.page.waitForSelector('.text:text-is("Office closed on Friday")', { timeout: 30_000 })
    t.ok(await user.page.$('#readonly'), `${user.name} cannot post: the composer says why`)
  }
  await alice.send('Back on Monday')
  for (const user of [bob, carol]) await user.page.waitForSelector('.text:text-is("Back on Monday")', { timeout: 30_000 })
  t.pass('followers get new posts live')
  await bob.shoot(TEST, '03-channel')
})

t.test('no console errors on any page', async (t) => {
  for (const user of [alice, bob, carol]) t.same(user.errors(), [], user.name)
})
