import t from 'tap'
import { Sequencer } from '../../client/sequencer.js'

interface Msg { seq: number, text?: string }

/** A sequencer that records what it shows. */
function recorder (last = 0): { seq: Sequencer<Msg>, shown: number[] } {
  const shown: number[] = []
  return { seq: new Sequencer<Msg>((m) => shown.push(m.seq), last), shown }
}

const m = (seq: number): Msg => ({ seq })

t.test('messages in order are shown at once and move the cursor', async (t) => {
  const { seq, shown } = recorder()
  t.equal(seq.push(m(1)), 'delivered')
  t.equal(seq.push(m(2)), 'delivered')
  t.equal(seq.push(m(3)), 'delivered')
  t.same(shown, [1, 2, 3])
  t.equal(seq.last, 3)
  t.notOk(seq.hasGap)
})

t.test('a saved cursor is where showing resumes: seqs at or below it are duplicates', async (t) => {
  const { seq, shown } = recorder(10)
  t.equal(seq.push(m(9)), 'duplicate')
  t.equal(seq.push(m(10)), 'duplicate')
  t.equal(seq.push(m(11)), 'delivered')
  t.same(shown, [11])
})

t.test('a redelivered message (QoS 1 duplicate) is dropped, shown or held', async (t) => {
  const { seq, shown } = recorder()
  seq.push(m(1))
  t.equal(seq.push(m(1)), 'duplicate', 'already shown')
  t.equal(seq.push(m(3)), 'held')
  t.equal(seq.push(m(3)), 'duplicate', 'already held')
  t.equal(seq.held, 1, 'held once')
  seq.push(m(2))
  t.same(shown, [1, 2, 3], 'each seq shown exactly once')
})

t.test('a gap holds later messages until the missing one arrives, then shows them all in order', async (t) => {
  const { seq, shown } = recorder()
  seq.push(m(1))
  t.equal(seq.push(m(4)), 'held')
  t.equal(seq.push(m(3)), 'held')
  t.equal(seq.push(m(6)), 'held')
  t.ok(seq.hasGap)
  t.equal(seq.firstHeld, 3)
  t.same(shown, [1], 'nothing after the gap is shown')
  t.equal(seq.push(m(2)), 'delivered')
  t.same(shown, [1, 2, 3, 4], 'the held successors follow, up to the next gap')
  t.equal(seq.last, 4)
  t.equal(seq.firstHeld, 6, '6 still waits for 5')
  seq.push(m(5))
  t.same(shown, [1, 2, 3, 4, 5, 6])
  t.notOk(seq.hasGap)
  t.equal(seq.firstHeld, undefined)
})

t.test('a sync overlapping live delivery shows each message once, in order', async (t) => {
  // Live 1..3 shown; a sync from 0 (started before they came) returns 1..5.
  const { seq, shown } = recorder()
  for (const s of [1, 2, 3]) seq.push(m(s))
  const outcomes = [1, 2, 3, 4, 5].map((s) => seq.push(m(s)))
  t.same(outcomes, ['duplicate', 'duplicate', 'duplicate', 'delivered', 'delivered'])
  t.same(shown, [1, 2, 3, 4, 5])
})

t.test('live messages that overtake a sync wait for it and are not shown twice', async (t) => {
  // Cursor 2; live 7 and 8 arrive (gap), the sync returns 3..7 page by page
  // while live 9 and 8 (a redelivery) interleave.
  const { seq, shown } = recorder(2)
  t.equal(seq.push(m(7)), 'held')
  t.equal(seq.push(m(8)), 'held')
  t.equal(seq.push(m(3)), 'delivered', 'sync page 1')
  t.equal(seq.push(m(4)), 'delivered')
  t.equal(seq.push(m(9)), 'held', 'live, mid-sync')
  t.equal(seq.push(m(5)), 'delivered', 'sync page 2')
  t.equal(seq.push(m(8)), 'duplicate', 'live redelivery of a held one')
  t.equal(seq.push(m(6)), 'delivered')
  t.same(shown, [3, 4, 5, 6, 7, 8, 9], 'the held 7, 8, 9 follow 6')
  t.equal(seq.push(m(7)), 'duplicate', 'the sync page that also carries 7')
  t.same(shown, [3, 4, 5, 6, 7, 8, 9])
  t.notOk(seq.hasGap)
})

t.test('any arrival order of a run of seqs shows the run once, in order', async (t) => {
  // Every permutation of 1..6, each seq twice: the app always sees 1..6.
  const seqs = [1, 2, 3, 4, 5, 6]
  const permutations = (a: number[]): number[][] => a.length <= 1
    ? [a]
    : a.flatMap((x, i) => permutations([...a.slice(0, i), ...a.slice(i + 1)]).map((p) => [x, ...p]))
  let runs = 0
  for (const order of permutations(seqs)) {
    const { seq, shown } = recorder()
    for (const s of [...order, ...order.slice().reverse()]) seq.push(m(s))
    if (shown.join() !== '1,2,3,4,5,6') t.fail(`order ${order.join()} showed ${shown.join()}`)
    runs++
  }
  t.equal(runs, 720, 'all 720 orders shown as 1..6')
})

t.test('skipTo passes over seqs that will never come, showing held messages on the way', async (t) => {
  const { seq, shown } = recorder(2)
  seq.push(m(5))
  seq.push(m(8))
  seq.push(m(9))
  t.equal(seq.skipTo(6), 3, 'skipped 3, 4 and 6; 5 was held and is shown')
  t.same(shown, [5])
  t.equal(seq.last, 6)
  seq.push(m(7))
  t.same(shown, [5, 7, 8, 9])
  t.equal(seq.skipTo(4), 0, 'behind the cursor: nothing to skip')
  t.equal(seq.last, 9)
})

t.test('skipTo to just below the first held message releases the held run', async (t) => {
  const { seq, shown } = recorder()
  seq.push(m(51))
  seq.push(m(52))
  t.equal(seq.skipTo(50), 50, 'a new member: history before seq 51 is not theirs')
  t.same(shown, [51, 52])
})

t.test('a listener that pushes from inside delivery sees the cursor already moved', async (t) => {
  const shown: number[] = []
  const seq: Sequencer<Msg> = new Sequencer<Msg>((msg) => {
    shown.push(msg.seq)
    if (msg.seq === 1) t.equal(seq.push(m(1)), 'duplicate', 're-entrant duplicate is dropped')
  })
  seq.push(m(1))
  seq.push(m(2))
  t.same(shown, [1, 2])
})

t.test('bad seqs and cursors are refused', async (t) => {
  t.throws(() => new Sequencer<Msg>(() => {}, -1), RangeError)
  t.throws(() => new Sequencer<Msg>(() => {}, 1.5), RangeError)
  const { seq } = recorder()
  t.throws(() => seq.push(m(0)), RangeError)
  t.throws(() => seq.push(m(Number.NaN)), RangeError)
})
