// The deploy benchmark's figures (bench/deploy.ts): each is the median of per-run paired values
// (the action against a reference timed right before it, in the same run), set beside its target.
// Pure: no timing, no I/O.

export const median = (xs: number[]): number => {
  if (xs.length === 0) throw new Error('median of nothing')
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

// One run's pair, in ms: what is judged (the action) and what it is judged against.
export interface Pair {
  subject: number
  reference: number
}

// How a figure is judged: its median ratio at most `ratio`, its median difference at most `plusMs`,
// or its value at most `max` (a single figure such as a peak, or a count).
export type Target = { ratio: number } | { plusMs: number } | { max: number; unit: string } | { none: true }

export interface Figure {
  measure: string
  value: string
  target: string
  met?: boolean // undefined: no target, shown for comparison only
  perRun: string[]
}

const s = (ms: number): string => (ms / 1000).toFixed(2)
const signed = (ms: number): string => `${ms < 0 ? '−' : '+'}${s(Math.abs(ms))}`

// `subject` / `reference` of each run, the median of those, against `target.ratio`.
export function ratioFigure(measure: string, names: [string, string], pairs: Pair[], target: { ratio: number } | { none: true }): Figure {
  const ratios = pairs.map((p) => p.subject / p.reference)
  const value = median(ratios)
  return {
    measure,
    value: value.toFixed(2),
    target: 'ratio' in target ? `≤ ${target.ratio.toFixed(2)}` : '—',
    met: 'ratio' in target ? value <= target.ratio : undefined,
    perRun: pairs.map((p, i) => `${names[1]} ${s(p.reference)} s, ${names[0]} ${s(p.subject)} s: ${ratios[i].toFixed(2)}`),
  }
}

// `subject` − `reference` of each run, the median of those, against `target.plusMs`.
export function differenceFigure(measure: string, names: [string, string], pairs: Pair[], target: { plusMs: number }): Figure {
  const differences = pairs.map((p) => p.subject - p.reference)
  const value = median(differences)
  return {
    measure,
    value: `${names[1]} ${signed(value)} s`,
    target: `≤ ${names[1]} + ${s(target.plusMs)} s`,
    met: value <= target.plusMs,
    perRun: pairs.map((p, i) => `${names[1]} ${s(p.reference)} s, ${names[0]} ${s(p.subject)} s: ${signed(differences[i])} s`),
  }
}

// A value measured once per run; the worst (largest) run is the figure.
export function maxFigure(measure: string, values: number[], target: { max: number; unit: string }, digits = 0): Figure {
  const value = Math.max(...values)
  return {
    measure,
    value: `${value.toFixed(digits)} ${target.unit}`,
    target: `≤ ${target.max} ${target.unit}`,
    met: value <= target.max,
    perRun: values.map((v) => `${v.toFixed(digits)} ${target.unit}`),
  }
}

const verdict = (met: boolean | undefined): string => (met === undefined ? '' : met ? 'met' : 'MISSED')

// The table of figures, then each figure's runs, as the README shows them.
export function figuresReport(figures: Figure[]): string {
  return [
    '| measure | figure | target | |',
    '|---|---:|---|---|',
    ...figures.map((f) => `| ${f.measure} | ${f.value} | ${f.target} | ${verdict(f.met)} |`),
    '',
    'Per run:',
    '',
    ...figures.map((f) => `- ${f.measure}: ${f.perRun.map((r, i) => `(${i + 1}) ${r}`).join('; ')}`),
  ].join('\n')
}

// `text` replaces what is between the two marker lines of `document` (the markers stay).
export function replaceBetween(document: string, start: string, end: string, text: string): string {
  const from = document.indexOf(start)
  const to = document.indexOf(end)
  if (from < 0 || to < from) throw new Error(`the markers ${start} … ${end} are missing or out of order`)
  return `${document.slice(0, from + start.length)}\n${text.trimEnd()}\n${document.slice(to)}`
}
