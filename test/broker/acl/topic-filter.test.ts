import t from 'tap'
import { TopicFilter, filterProblem, isTopicName } from '../../../broker/acl/topic-filter.js'

const matches = (filter: string, topic: string): boolean => new TopicFilter(filter).matches(topic.split('/'))
const covers = (rule: string, filter: string): boolean => new TopicFilter(rule).covers(filter.split('/'))

t.test('filterProblem accepts whole-level wildcards and names the clause for misplaced ones', async (t) => {
  for (const ok of ['#', '+', 'a/#', '+/+/#', 'a//b', '/', 'a b/c', '$SYS/#']) {
    t.equal(filterProblem(ok), null, ok)
  }
  t.match(filterProblem('a/#/b'), /'#' must be the last level \[MQTT-4\.7\.1-2\]/)
  t.match(filterProblem('a/b#'), /'#' must occupy a whole level/)
  t.match(filterProblem('a/+b'), /'\+' must occupy a whole level \[MQTT-4\.7\.1-3\]/)
  t.match(filterProblem(''), /empty \[MQTT-4\.7\.3-1\]/)
  t.match(filterProblem('a\u0000b'), /U\+0000/)
  t.match(filterProblem('a'.repeat(65536)), /longer than 65535 bytes/)
})

t.test('isTopicName refuses wildcards and empty names', async (t) => {
  t.ok(isTopicName('a/b'))
  t.ok(isTopicName('/'))
  t.notOk(isTopicName(''))
  t.notOk(isTopicName('a/+'))
  t.notOk(isTopicName('a/#'))
})

t.test('# matches its parent level and everything below it', async (t) => {
  t.ok(matches('a/#', 'a'))
  t.ok(matches('a/#', 'a/b/c'))
  t.ok(matches('#', 'a'))
  t.notOk(matches('a/#', 'ab'))
  t.notOk(matches('a/b/#', 'a'))
})

t.test('+ matches exactly one level, possibly empty', async (t) => {
  t.ok(matches('a/+', 'a/b'))
  t.ok(matches('a/+', 'a/'))
  t.ok(matches('+/+', '/x'))
  t.notOk(matches('a/+', 'a'))
  t.notOk(matches('a/+', 'a/b/c'))
  t.ok(matches('a/+/#', 'a/b'))
  t.notOk(matches('a/+/#', 'a'))
})

t.test('a filter starting with a wildcard never matches a $ topic [MQTT-4.7.2-1]', async (t) => {
  t.notOk(matches('#', '$SYS/x'))
  t.notOk(matches('+/x', '$app/x'))
  t.ok(matches('$app/#', '$app/x'))
  t.ok(matches('$app/+', '$app/x'))
})

t.test('a rule covers a filter when it matches every topic the filter could bring', async (t) => {
  t.ok(covers('a/#', 'a/b/+'), 'a/# covers a/b/+')
  t.ok(covers('a/#', 'a/#'))
  t.ok(covers('a/#', 'a'), 'a/# matches a itself')
  t.ok(covers('#', '+/x'))
  t.ok(covers('#', '#'))
  t.ok(covers('a/+', 'a/b'))
  t.ok(covers('a/+', 'a/+'))
  t.ok(covers('+/#', '#'), 'every topic has a first level')
  t.notOk(covers('a/+', 'a/#'), 'a/# also brings a/b/c and a')
  t.notOk(covers('a/+/#', 'a/#'), 'a/# also brings a')
  t.notOk(covers('a/b', 'a/+'))
  t.notOk(covers('a/+', 'a'))
  t.notOk(covers('a/b/#', 'a/#'))
  t.notOk(covers('+/+/#', '#'))
  t.notOk(covers('a/+', '+/b'))
})

t.test('a wildcard-first rule covers no filter that names a $ root', async (t) => {
  t.notOk(covers('#', '$SYS/#'))
  t.notOk(covers('+/#', '$app/x'))
  t.notOk(covers('$app/#', '#'))
  t.ok(covers('$app/#', '$app/+'))
})
