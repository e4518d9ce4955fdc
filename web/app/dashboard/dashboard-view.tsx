import { useEffect, useMemo } from 'preact/hooks'
import { navigate } from '../route.js'
import { session as sessionSignal, signOut, type Session } from '../session/session.js'
import { figure } from '../text/size-text.js'
import { duration } from '../text/time-text.js'
import { Back, Logo } from '../views/icons.js'
import { TimeChart, type ChartSeries } from '../views/time-chart.js'
import { DashboardStore, type DashboardPoint } from './dashboard-store.js'

interface Panel {
  id: string
  title: string
  unit: string
  now: (p: DashboardPoint) => string
  series: Array<{ label: string, stroke: string, value: (p: DashboardPoint) => number | null }>
}

const PANELS: Panel[] = [
  { id: 'connections', title: 'Connections', unit: '', now: (p) => figure(p.connections, 0), series: [{ label: 'clients', stroke: '#1d4ed8', value: (p) => p.connections }] },
  {
    id: 'messages',
    title: 'Messages per second',
    unit: '/s',
    now: (p) => `in ${figure(p.inPerSecond, 0)} · out ${figure(p.outPerSecond, 0)}`,
    series: [{ label: 'in', stroke: '#1d4ed8', value: (p) => p.inPerSecond }, { label: 'out', stroke: '#047857', value: (p) => p.outPerSecond }]
  },
  {
    id: 'store',
    title: 'Store write latency',
    unit: ' ms',
    now: (p) => p.storeMeanMs === null ? 'no writes' : `mean ${figure(p.storeMeanMs, 2)} ms`,
    series: [{ label: 'mean', stroke: '#7c3aed', value: (p) => p.storeMeanMs }, { label: 'p99 ≤', stroke: '#be123c', value: (p) => p.storeP99Ms }]
  },
  { id: 'backlog', title: 'Queue: publishes in flight', unit: '', now: (p) => figure(p.backlog, 0), series: [{ label: 'in flight', stroke: '#b45309', value: (p) => p.backlog }] },
  {
    id: 'calls',
    title: 'Calls',
    unit: '',
    now: (p) => `${figure(p.callsActive, 0)} active`,
    series: [{ label: 'active', stroke: '#0e7490', value: (p) => p.callsActive }]
  },
  {
    id: 'quality',
    title: 'Call quality (mean of running calls)',
    unit: '',
    now: (p) => `loss ${figure(p.lossPct, 1)}% · jitter ${figure(p.jitterMs, 1)} ms · RTT ${figure(p.rttMs, 0)} ms`,
    series: [{ label: 'loss %', stroke: '#b91c1c', value: (p) => p.lossPct }, { label: 'jitter ms', stroke: '#7c3aed', value: (p) => p.jitterMs }, { label: 'RTT ms', stroke: '#b45309', value: (p) => p.rttMs }]
  },
  { id: 'cpu', title: 'CPU', unit: '%', now: (p) => `${figure(p.cpuPct, 0)}% · lag ${figure(p.lagMs, 1)} ms`, series: [{ label: 'cpu %', stroke: '#4d7c0f', value: (p) => p.cpuPct }] },
  { id: 'memory', title: 'Memory (resident)', unit: ' MB', now: (p) => `${figure(p.rssMB, 0)} MB`, series: [{ label: 'MB', stroke: '#a21caf', value: (p) => p.rssMB }] }
]

/** The operator's view of this node: its own figures over the last ten minutes, for admins. */
export function DashboardView ({ session }: { session: Session }) {
  const store = useMemo(() => new DashboardStore(() => sessionSignal.value?.token ?? session.token), [session.user])
  useEffect(() => {
    store.start()
    return () => store.stop()
  }, [store])

  const points = store.points.value
  const problem = store.problem.value
  const latest = store.latest.value
  const last = points.at(-1)
  const times = points.map((p) => p.t)

  return (
    <div class='dashboard'>
      <header class='dash-head'>
        <a class='icon-button' href='/' aria-label='Back to the chat' title='Back to the chat' onClick={(e) => { e.preventDefault(); navigate('/') }}><Back /></a>
        <Logo />
        <h1>Hail · dashboard</h1>
        <span class='grow' />
        <span class='muted small'>{session.user}</span>
        <button type='button' onClick={() => signOut()}>Sign out</button>
      </header>
      {problem !== null && (
        <p class='dash-problem' role='alert' id='dash-problem'>
          {problem.status === 403 ? `Only admins see the dashboard. ${problem.message}.` : problem.message}
        </p>
      )}
      {problem?.status !== 403 && (
        <>
          <div class='panels'>
            {PANELS.map((panel) => {
              const series: ChartSeries[] = panel.series.map((s) => ({ label: s.label, stroke: s.stroke, values: points.map(s.value) }))
              return (
                <section class='panel card' key={panel.id} id={`panel-${panel.id}`} aria-labelledby={`title-${panel.id}`}>
                  <h2 id={`title-${panel.id}`}>{panel.title}</h2>
                  <p class='figure' data-figure={panel.id}>{last === undefined ? '…' : panel.now(last)}</p>
                  <TimeChart times={times} series={series} height={150} axes yMin={0} unit={panel.unit} label={panel.title} />
                </section>
              )
            })}
          </div>
          <section class='card calls-table' aria-labelledby='active-calls'>
            <h2 id='active-calls'>Active calls</h2>
            {(latest?.calls.length ?? 0) === 0
              ? <p class='muted'>No calls right now.</p>
              : (
                <div class='table-wrap'>
                  <table id='calls'>
                    <thead><tr><th>conversation</th><th>media</th><th>state</th><th>participants</th><th>for</th><th>loss</th><th>jitter</th><th>RTT</th></tr></thead>
                    <tbody>
                      {latest!.calls.map((c) => (
                        <tr key={c.id}>
                          <td>{c.conv}</td>
                          <td>{c.media.video ? 'video' : 'voice'} · {c.mode}</td>
                          <td>{c.state}</td>
                          <td>{c.participants.join(', ')}</td>
                          <td>{duration(latest!.ts - (c.answeredAt ?? c.startedAt))}</td>
                          <td>{c.quality === null ? '–' : `${figure(100 * c.quality.loss, 1)}%`}</td>
                          <td>{c.quality === null ? '–' : `${figure(c.quality.jitterMs, 1)} ms`}</td>
                          <td>{c.quality?.rttMs == null ? '–' : `${figure(c.quality.rttMs, 0)} ms`}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
                )}
          </section>
        </>
      )}
    </div>
  )
}
