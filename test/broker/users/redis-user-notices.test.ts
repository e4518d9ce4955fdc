import t from 'tap'
import { RedisUserNotices } from '../../../broker/users/redis-user-notices.js'
import type { RedisServer } from '../../helpers/redis-server.js'
import { waitFor } from '../../helpers/wait-for.js'
import { redisClient, startRedis } from '../im/store/redis-fixture.js'

let server: RedisServer
t.before(async () => { server = await startRedis(t) })

t.test('a deletion told by the CLI or by one node reaches every listening node; garbage on the channel is ignored', async (t) => {
  const heard: string[] = []
  const listen = async (node: string): Promise<RedisUserNotices> => {
    const notices = await RedisUserNotices.listen({
      redis: redisClient(t, server),
      prefix: 'notices1:',
      onUserDeleted: (name) => { heard.push(`${node} ${name}`); return 0 }
    })
    t.teardown(() => notices.close())
    return notices
  }
  const one = await listen('one')
  await listen('two')
  const cli = redisClient(t, server)

  t.equal(await cli.publish('notices1:users:notice', 'not json'), 2, 'both nodes are subscribed')
  await cli.publish('notices1:users:notice', JSON.stringify({ op: 'user.del', name: 'Not/A/Name' }))
  await cli.publish('notices1:users:notice', JSON.stringify({ op: 'user.rename', name: 'ann' }))
  t.equal(await RedisUserNotices.publish(cli, { op: 'user.del', name: 'ann' }, 'notices1:'), 2, 'the CLI\'s notice reaches two nodes')
  await waitFor(() => heard.length >= 2, 'both nodes to hear ann deleted')
  one.userDeleted('ben')
  await waitFor(() => heard.length >= 4, 'both nodes, the teller too, to hear ben deleted')
  t.same(heard.sort(), ['one ann', 'one ben', 'two ann', 'two ben'], 'each real notice once per node; the malformed ones nowhere')

  await RedisUserNotices.publish(cli, { op: 'user.del', name: 'cy' }, 'other:')
  await one.close()
  t.equal(await RedisUserNotices.publish(cli, { op: 'user.del', name: 'dee' }, 'notices1:'), 1, 'a closed listener no longer hears notices')
  await waitFor(() => heard.length >= 5, 'the open node to hear dee deleted')
  t.same(heard.filter((h) => h.endsWith('cy')), [], 'another prefix\'s notices are not heard')
})
