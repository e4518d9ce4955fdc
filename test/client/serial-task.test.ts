import t from 'tap'
import { SerialTask } from '../../client/serial-task.js'

function controlled () {
  const runs: Array<() => void> = []
  let started = 0
  const task = new SerialTask(async () => {
    started++
    await new Promise<void>((resolve) => runs.push(resolve))
  })
  return { task, runs, started: () => started }
}

const tick = async (): Promise<void> => await new Promise((resolve) => setImmediate(resolve))

t.test('runs one at a time; calls during a run share one follow-up', async (t) => {
  const { task, runs, started } = controlled()
  const first = task.run()
  await tick()
  t.equal(started(), 1)
  const second = task.run()
  const third = task.run()
  t.equal(second, third, 'the same follow-up promise')
  await tick()
  t.equal(started(), 1, 'the follow-up waits for the running pass')
  runs.shift()!()
  await first
  await tick()
  t.equal(started(), 2)
  runs.shift()!()
  await second
  t.notOk(task.busy)
  const fourth = task.run()
  await tick()
  t.equal(started(), 3, 'a call after everything finished starts a new pass')
  runs.shift()!()
  await fourth
})

t.test('calls before a pass has started share it', async (t) => {
  const { task, runs, started } = controlled()
  const a = task.run()
  const b = task.run()
  t.equal(a, b)
  await tick()
  runs.shift()!()
  await a
  t.equal(started(), 1)
})

t.test('a failed pass rejects its callers only; the follow-up still runs', async (t) => {
  let n = 0
  const task = new SerialTask(async () => {
    n++
    await tick()
    if (n === 1) throw new Error('first fails')
  })
  const first = task.run()
  await tick()
  const second = task.run()
  await t.rejects(first, /first fails/)
  await second
  t.equal(n, 2)
})
