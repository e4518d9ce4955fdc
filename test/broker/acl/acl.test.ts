import t from 'tap'
import { Acl, type AclIdentity } from '../../../broker/acl/acl.js'
import { parseAclFile } from '../../../broker/acl/acl-file.js'

const acl = (...lines: string[]): Acl => new Acl(parseAclFile(lines.join('\n'), 'test.acl'))
const who = (user: string | null, clientId = `${user ?? 'anon'}-1`): AclIdentity => ({ user, clientId })
const alice = who('alice')
const bob = who('bob')
const anon = who(null)

t.test('with no rules nobody may do anything', async (t) => {
  const rules = acl()
  t.notOk(rules.canPublish(alice, 'a'))
  t.notOk(rules.canSubscribe(alice, 'a'))
  t.notOk(rules.canReceive(anon, 'a'))
})

t.test('read lets alice receive and subscribe but not publish', async (t) => {
  const rules = acl('user alice', 'topic read news/#')
  t.ok(rules.canReceive(alice, 'news/today'))
  t.ok(rules.canSubscribe(alice, 'news/+'))
  t.notOk(rules.canPublish(alice, 'news/today'))
})

t.test('write lets alice publish but neither subscribe nor receive', async (t) => {
  const rules = acl('user alice', 'topic write out/#')
  t.ok(rules.canPublish(alice, 'out/1'))
  t.notOk(rules.canSubscribe(alice, 'out/1'))
  t.notOk(rules.canReceive(alice, 'out/1'))
})

t.test('readwrite, the default access, allows all three', async (t) => {
  for (const rules of [acl('user alice', 'topic readwrite a/#'), acl('user alice', 'topic a/#')]) {
    t.ok(rules.canPublish(alice, 'a/b'))
    t.ok(rules.canSubscribe(alice, 'a/#'))
    t.ok(rules.canReceive(alice, 'a/b'))
  }
})

t.test('a topic rule applies to its section user only', async (t) => {
  const rules = acl('user alice', 'topic a/#', 'user bob', 'topic read b/#')
  t.ok(rules.canPublish(alice, 'a/1'))
  t.notOk(rules.canPublish(bob, 'a/1'))
  t.notOk(rules.canReceive(bob, 'a/1'))
  t.ok(rules.canReceive(bob, 'b/1'))
  t.notOk(rules.canReceive(who('carol'), 'b/1'))
})

t.test('rules before any user line apply to anonymous clients only', async (t) => {
  const rules = acl('topic read public/#', 'user alice', 'topic read a/#')
  t.ok(rules.canReceive(anon, 'public/x'))
  t.notOk(rules.canReceive(alice, 'public/x'), 'alice has her own section')
  t.notOk(rules.canReceive(who('zed'), 'public/x'), 'nor does a user without a section get them')
  t.notOk(rules.canReceive(anon, 'a/x'))
})

t.test('a section named twice gathers the rules of both', async (t) => {
  const rules = acl('user alice', 'topic read a/#', 'user bob', 'topic b', 'user alice', 'topic write w')
  t.ok(rules.canReceive(alice, 'a/1'))
  t.ok(rules.canPublish(alice, 'w'))
})

t.test('a deny rule wins over an allow wherever either stands', async (t) => {
  const rules = acl(
    'user alice', 'topic a/#', 'topic deny a/secret', 'topic deny a/+/private',
    'pattern deny a/%u/locked'
  )
  t.ok(rules.canReceive(alice, 'a/open'))
  t.notOk(rules.canReceive(alice, 'a/secret'))
  t.notOk(rules.canPublish(alice, 'a/secret'))
  t.notOk(rules.canReceive(alice, 'a/x/private'))
  t.notOk(rules.canPublish(alice, 'a/alice/locked'), 'a pattern deny beats a user allow (in Mosquitto it would not)')
  t.ok(rules.canPublish(alice, 'a/bob/locked'))

  const denyFirst = acl('user alice', 'topic deny a/secret', 'topic a/#')
  t.notOk(denyFirst.canReceive(alice, 'a/secret'), 'order does not matter')
})

t.test('a subscription is refused when a deny covers it, and granted but filtered when a deny only overlaps it', async (t) => {
  const rules = acl('user alice', 'topic read a/#', 'topic deny a/secret/#')
  t.notOk(rules.canSubscribe(alice, 'a/secret'))
  t.notOk(rules.canSubscribe(alice, 'a/secret/+'))
  t.ok(rules.canSubscribe(alice, 'a/#'))
  t.notOk(rules.canReceive(alice, 'a/secret/x'), 'delivery holds back what the deny names')
  t.ok(rules.canReceive(alice, 'a/open'))
})

t.test('a subscription needs a read rule that covers the whole filter', async (t) => {
  const hash = acl('user alice', 'topic read a/#')
  t.ok(hash.canSubscribe(alice, 'a/b/+'), 'rule a/# allows a/b/+')
  t.ok(hash.canSubscribe(alice, 'a/#'))
  t.ok(hash.canSubscribe(alice, 'a'))
  t.notOk(hash.canSubscribe(alice, '#'))
  t.notOk(hash.canSubscribe(alice, '+/b'))

  const plus = acl('user alice', 'topic read a/+')
  t.ok(plus.canSubscribe(alice, 'a/b'))
  t.ok(plus.canSubscribe(alice, 'a/+'))
  t.notOk(plus.canSubscribe(alice, 'a/#'), 'rule a/+ does not allow a/#')
  t.notOk(plus.canSubscribe(alice, 'a/b/c'))

  const two = acl('user alice', 'topic read a/x', 'topic read a/y')
  t.notOk(two.canSubscribe(alice, 'a/+'), 'coverage is per rule, not by union')
})

t.test('invalid topics and filters are refused whatever the rules say', async (t) => {
  const rules = acl('user alice', 'topic #')
  t.notOk(rules.canPublish(alice, 'a/+'), 'no wildcards in a PUBLISH topic [MQTT-3.3.2-2]')
  t.notOk(rules.canPublish(alice, ''))
  t.notOk(rules.canSubscribe(alice, 'a/#/b'))
  t.notOk(rules.canSubscribe(alice, ''))
  t.notOk(rules.canReceive(alice, 'a/#'))
})

t.test('a pattern with %u lets alice read only her own topics', async (t) => {
  const rules = acl('pattern read home/%u/#')
  t.ok(rules.canReceive(alice, 'home/alice/door'))
  t.ok(rules.canSubscribe(alice, 'home/alice/#'))
  t.notOk(rules.canReceive(alice, 'home/bob/door'))
  t.notOk(rules.canSubscribe(alice, 'home/+/door'))
  t.ok(rules.canReceive(bob, 'home/bob/door'))
  t.notOk(rules.canReceive(anon, 'home/anon-1/door'), 'a %u pattern does not apply to anonymous clients')
})

t.test('a pattern with %c applies to every client, anonymous ones included', async (t) => {
  const rules = acl('pattern write devices/%c/state', 'pattern read devices/%c/config/#')
  t.ok(rules.canPublish(who(null, 'dev1'), 'devices/dev1/state'))
  t.notOk(rules.canPublish(who(null, 'dev1'), 'devices/dev2/state'))
  t.ok(rules.canReceive(who('alice', 'alice/phone'), 'devices/alice/phone/config/x'),
    "a client id of Hail's {user}/{device} form substitutes as two levels")
  t.notOk(rules.canReceive(who('alice', 'alice/phone'), 'devices/alice/tablet/config/x'))
})

t.test('%u and %c together, and a username holding a placeholder is not substituted again', async (t) => {
  const rules = acl('pattern readwrite u/%u/c/%c')
  t.ok(rules.canPublish(who('alice', 'p1'), 'u/alice/c/p1'))
  t.ok(rules.canPublish(who('%c', 'p1'), 'u/%c/c/p1'))
  t.notOk(rules.canPublish(who('%c', 'p1'), 'u/p1/c/p1'))
})

t.test('a user named a+b or # gains nothing from a pattern', async (t) => {
  const rules = acl('pattern readwrite home/%u/#', 'pattern read devices/%c')
  for (const user of ['a+b', '#', '+', 'a/b', 'alice/x', '$SYS', '']) {
    const id = who(user, 'c1')
    t.notOk(rules.canSubscribe(id, 'home/#'), `${JSON.stringify(user)} cannot subscribe home/#`)
    t.notOk(rules.canReceive(id, 'home/x'), `${JSON.stringify(user)} cannot read home/x`)
    t.notOk(rules.canReceive(id, 'home/alice/x'), `${JSON.stringify(user)} cannot read alice's topics`)
    t.ok(rules.canReceive(id, 'devices/c1'), `${JSON.stringify(user)} still gets its %c pattern`)
  }
  t.notOk(rules.canPublish(who('alice/x'), 'home/alice/x/y'), "user alice/x does not reach into alice's levels")
})

t.test('a client id with a wildcard gains nothing from a %c pattern', async (t) => {
  const rules = acl('pattern readwrite devices/%c/#')
  for (const clientId of ['#', '+', 'a+b', 'a/#', '$SYS']) {
    t.notOk(rules.canSubscribe(who(null, clientId), 'devices/#'), clientId)
    t.notOk(rules.canReceive(who(null, clientId), 'devices/x'), clientId)
  }
})

t.test('a deny pattern that cannot be substituted safely shuts everything for that identity', async (t) => {
  const rules = acl('user a+b', 'topic read open/#', 'user alice', 'topic read open/#', 'pattern deny private/%u/#')
  t.notOk(rules.canReceive(who('a+b'), 'open/x'))
  t.ok(rules.canReceive(alice, 'open/x'))
  t.notOk(rules.canReceive(alice, 'private/alice/x'))
})

t.test('reserved topics are refused even with topic readwrite #', async (t) => {
  const rules = acl('user alice', 'topic readwrite #', 'topic readwrite im/#', 'topic readwrite $SYS/#', 'pattern readwrite %u/#')
  const im = who('im')
  for (const topic of ['im/send/c1', 'im/inbox/alice', 'im', '$SYS/broker/uptime']) {
    t.notOk(rules.canPublish(alice, topic), `publish ${topic}`)
    t.notOk(rules.canReceive(alice, topic), `receive ${topic}`)
    t.notOk(rules.canPublish(im, topic), `publish ${topic} as user im`)
  }
  for (const filter of ['im/#', 'im/inbox/alice', '$SYS/#', 'im']) {
    t.notOk(rules.canSubscribe(alice, filter), `subscribe ${filter}`)
  }
  t.ok(rules.canSubscribe(alice, '#'), '# stays allowed ...')
  t.ok(rules.canSubscribe(alice, '+/inbox/alice'))
  t.notOk(rules.canReceive(alice, 'im/inbox/alice'), '... but never delivers a reserved topic')
})

t.test('canReadSys: read rules naming $SYS/ grant reading it, and nothing else does', async (t) => {
  const rules = acl('user alice', 'topic read $SYS/broker/#', 'topic deny $SYS/broker/heap/#', 'user bob', 'topic readwrite #', 'topic write $SYS/#', 'user carol', 'topic readwrite $SYS/#')
  t.ok(rules.canReadSys(alice, '$SYS/broker/uptime', false), 'a read rule grants receiving')
  t.ok(rules.canReadSys(alice, '$SYS/broker/#', true), 'and subscribing to what it covers')
  t.notOk(rules.canReadSys(alice, '$SYS/#', true), 'not a filter wider than the rule')
  t.notOk(rules.canReadSys(alice, '$SYS/broker/heap/current', false), 'a deny wins')
  t.notOk(rules.canReadSys(bob, '$SYS/broker/uptime', false), '# never reaches $SYS/ [MQTT-4.7.2-1], and write is no read')
  t.ok(rules.canReadSys(who('carol'), '$SYS/broker/uptime', false), 'readwrite grants the read half')
  t.notOk(rules.canPublish(who('carol'), '$SYS/broker/uptime'), '... and never the write half')
  t.notOk(rules.canReadSys(anon, '$SYS/broker/uptime', false), 'no rule for anonymous clients')
  t.notOk(rules.canReadSys(alice, 'a/b', false), 'only $SYS/ topics are answered')
  t.notOk(Acl.allowAll().canReadSys(anon, '$SYS/broker/uptime', false), 'the open default grants nothing there')
})

t.test('$ topics are not matched by # or + rules [MQTT-4.7.2-1]', async (t) => {
  const rules = acl('user alice', 'topic readwrite #', 'topic readwrite +/x', 'user bob', 'topic readwrite $app/#')
  t.notOk(rules.canPublish(alice, '$app/x'))
  t.notOk(rules.canReceive(alice, '$app/x'))
  t.notOk(rules.canSubscribe(alice, '$app/#'))
  t.ok(rules.canPublish(bob, '$app/x'))
  t.ok(rules.canSubscribe(bob, '$app/+'))
})

t.test('allowAll allows every ordinary topic to everyone and still refuses reserved ones', async (t) => {
  const open = Acl.allowAll()
  t.ok(open.canPublish(anon, 'a/b'))
  t.ok(open.canSubscribe(anon, '#'))
  t.ok(open.canReceive(who('a+b'), 'a/b'))
  t.ok(open.canPublish(anon, '$app/x'))
  t.notOk(open.canPublish(anon, 'im/send/c1'))
  t.notOk(open.canSubscribe(anon, '$SYS/#'))
  t.notOk(open.canReceive(anon, 'im/inbox/alice'))
  t.notOk(open.canPublish(anon, 'a/#'))
})

t.test('with a tiny identity cache, answers stay right as identities are evicted', async (t) => {
  const rules = new Acl(parseAclFile('pattern read home/%u/%c/#'), { cacheSize: 2 })
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 50; i++) {
      const id = who(`u${i}`, `c${i}`)
      t.equal(rules.canReceive(id, `home/u${i}/c${i}/x`), true)
      t.equal(rules.canReceive(id, `home/u${i}/c${i + 1}/x`), false)
    }
  }
  t.ok(rules.canReceive(who('ab', 'c'), 'home/ab/c/x'))
  t.notOk(rules.canReceive(who('a', 'bc'), 'home/ab/c/x'), 'user a with client bc is not user ab with client c')
})

t.test('warnings and source of the file are kept on the Acl', async (t) => {
  const rules = acl('pattern read news/#')
  t.equal(rules.source, 'test.acl')
  t.equal(rules.warnings.length, 1)
  t.ok(rules.canReceive(anon, 'news/x'), 'a pattern without placeholders applies to everyone')
  t.ok(rules.canReceive(alice, 'news/x'))
})
