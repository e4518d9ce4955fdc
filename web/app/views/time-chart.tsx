import { useEffect, useRef } from 'preact/hooks'
import UPlot from 'uplot'

export interface ChartSeries {
  label: string
  /** A CSS colour. */
  stroke: string
  values: Array<number | null>
}

export interface TimeChartProps {
  /** Seconds since the epoch, ascending. */
  times: number[]
  series: ChartSeries[]
  height: number
  /** Axes, grid and legend: the dashboard's charts; without, a sparkline for the call screen. */
  axes?: boolean
  /** A fixed lower bound for the y axis (0 for rates). */
  yMin?: number
  unit?: string
  label: string
}

/**
 * A line chart of figures over time, drawn by uPlot on a canvas, sized to
 * its container. The data is replaced on each render; the chart itself is
 * made once.
 */
export function TimeChart (props: TimeChartProps) {
  const host = useRef<HTMLDivElement>(null)
  const plot = useRef<UPlot | null>(null)
  const { times, series, height, axes = false, unit = '' } = props

  useEffect(() => {
    const el = host.current
    if (el === null) return
    const width = Math.max(120, el.clientWidth)
    const opts: UPlot.Options = {
      width,
      height,
      cursor: { show: axes, drag: { x: false, y: false } },
      legend: { show: axes },
      select: { show: false, left: 0, top: 0, width: 0, height: 0 },
      // An all-zero series keeps an axis of 0..1 rather than one of nano-units.
      scales: { x: { time: true }, y: { range: (_u, min, max) => [props.yMin ?? min, Math.max(max * 1.1, (props.yMin ?? min) + 1)] } },
      axes: axes
        ? [
            { stroke: '#4b5563', grid: { stroke: '#e5e7eb' }, ticks: { stroke: '#e5e7eb' } },
            { stroke: '#4b5563', grid: { stroke: '#e5e7eb' }, ticks: { stroke: '#e5e7eb' }, size: 56, values: (_u, vals) => vals.map((v) => `${compact(v)}${unit}`) }
          ]
        : [{ show: false }, { show: false }],
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, spanGaps: true, points: { show: false }, value: (_u: UPlot, v: number | null) => v === null ? '–' : `${compact(v)}${unit}` }))]
    }
    const chart = new UPlot(opts, [times, ...series.map((s) => s.values)] as UPlot.AlignedData, el)
    plot.current = chart
    const resize = new ResizeObserver(() => chart.setSize({ width: Math.max(120, el.clientWidth), height }))
    resize.observe(el)
    return () => {
      resize.disconnect()
      chart.destroy()
      plot.current = null
    }
  }, [series.length, height, axes])

  useEffect(() => {
    plot.current?.setData([times, ...series.map((s) => s.values)] as UPlot.AlignedData)
  })

  return <div class='time-chart' ref={host} role='img' aria-label={props.label} />
}

/** 1234 → 1.2k, 0.0042 → 0.0042: axis labels that fit. */
export function compact (v: number): string {
  const a = Math.abs(v)
  if (a >= 1e6) return `${Number((v / 1e6).toFixed(1))}M`
  if (a >= 1e3) return `${Number((v / 1e3).toFixed(1))}k`
  if (a >= 10 || a === 0) return String(Math.round(v))
  if (a >= 1) return String(Number(v.toFixed(1)))
  return String(Number(v.toPrecision(2)))
}
