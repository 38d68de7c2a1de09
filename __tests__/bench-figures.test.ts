import { describe, expect, it } from 'vitest'
import { differenceFigure, figuresReport, maxFigure, median, ratioFigure, replaceBetween } from '../bench/figures'

describe('median', () => {
  it('takes the middle value, or the mean of the two middle ones', () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 3, 2])).toBe(2.5)
    expect(() => median([])).toThrow()
  })
})

describe('ratioFigure', () => {
  // Paired: the median of the per-run ratios, not the ratio of the columns' medians (4.2 / 4 = 1.05).
  const pairs = [
    { subject: 4200, reference: 3000 }, // 1.40
    { subject: 4600, reference: 4000 }, // 1.15
    { subject: 5000, reference: 5000 }, // 1.00
  ]

  it('judges the median of the per-run ratios against the target', () => {
    const figure = ratioFigure('N=20', ['action', 'floor'], pairs, { ratio: 1.15 })
    expect(figure).toMatchObject({ value: '1.15', target: '≤ 1.15', met: true })
    expect(figure.perRun).toEqual(['floor 3.00 s, action 4.20 s: 1.40', 'floor 4.00 s, action 4.60 s: 1.15', 'floor 5.00 s, action 5.00 s: 1.00'])
    expect(ratioFigure('N=20', ['action', 'floor'], pairs, { ratio: 1.1 }).met).toBe(false)
  })

  it('has no verdict without a target', () => {
    expect(ratioFigure('N=3', ['action', 'baseline'], pairs, { none: true })).toMatchObject({ target: '—', met: undefined })
  })
})

describe('differenceFigure', () => {
  it('judges the median of the per-run differences against reference + the allowance', () => {
    const pairs = [
      { subject: 1300, reference: 900 },
      { subject: 1100, reference: 900 },
      { subject: 1000, reference: 1100 },
    ]
    const figure = differenceFigure('N=3', ['action', 'floor'], pairs, { plusMs: 300 })
    expect(figure).toMatchObject({ value: 'floor +0.20 s', target: '≤ floor + 0.30 s', met: true })
    expect(figure.perRun[2]).toBe('floor 1.10 s, action 1.00 s: −0.10 s')
    expect(differenceFigure('N=3', ['action', 'floor'], pairs, { plusMs: 150 }).met).toBe(false)
  })
})

describe('maxFigure', () => {
  it('takes the worst run', () => {
    expect(maxFigure('failed', [0, 2, 0], { max: 0, unit: 'requests' })).toMatchObject({ value: '2 requests', met: false })
    expect(maxFigure('RSS', [79.4], { max: 80, unit: 'MB' })).toMatchObject({ value: '79 MB', target: '≤ 80 MB', met: true })
  })
})

describe('figuresReport', () => {
  it('prints each figure beside its target, then its runs', () => {
    const figures = [
      ratioFigure('N=20', ['action', 'floor'], [{ subject: 1200, reference: 1000 }], { ratio: 1.15 }),
      maxFigure('RSS', [70], { max: 80, unit: 'MB' }),
      ratioFigure('baseline', ['action', 'baseline'], [{ subject: 1000, reference: 2000 }], { none: true }),
    ]
    expect(figuresReport(figures)).toBe(
      [
        '| measure | figure | target | |',
        '|---|---:|---|---|',
        '| N=20 | 1.20 | ≤ 1.15 | MISSED |',
        '| RSS | 70 MB | ≤ 80 MB | met |',
        '| baseline | 0.50 | — |  |',
        '',
        'Per run:',
        '',
        '- N=20: (1) floor 1.00 s, action 1.20 s: 1.20',
        '- RSS: (1) 70 MB',
        '- baseline: (1) baseline 2.00 s, action 1.00 s: 0.50',
      ].join('\n'),
    )
  })
})

describe('replaceBetween', () => {
  const doc = 'before\n<!-- a -->\nold\nlines\n<!-- b -->\nafter\n'

  it('replaces what is between the markers and keeps them', () => {
    expect(replaceBetween(doc, '<!-- a -->', '<!-- b -->', 'new\n')).toBe('before\n<!-- a -->\nnew\n<!-- b -->\nafter\n')
    expect(replaceBetween('<!-- a -->\n<!-- b -->', '<!-- a -->', '<!-- b -->', 'x')).toBe('<!-- a -->\nx\n<!-- b -->')
  })

  it('refuses a document without both markers in order', () => {
    expect(() => replaceBetween('<!-- b -->\n<!-- a -->', '<!-- a -->', '<!-- b -->', 'x')).toThrow(/markers/)
    expect(() => replaceBetween('nothing', '<!-- a -->', '<!-- b -->', 'x')).toThrow(/markers/)
  })
})
