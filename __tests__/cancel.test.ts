import { describe, expect, it } from 'vitest'
import { CancelledError, cancelOnSignals, sleep } from '../src/cancel'
import { workflowRunFinished, workflowRunOf } from '../src/github/runs'
import type { GitHubApi } from '../src/github/api'

describe('cancelOnSignals', () => {
  it('aborts on the first SIGINT or SIGTERM with a CancelledError naming it, and ignores the next', () => {
    const listeners = process.listenerCount('SIGINT')
    const { signal, stop } = cancelOnSignals()
    try {
      expect(signal.aborted).toBe(false)
      process.emit('SIGTERM', 'SIGTERM')
      expect(signal.aborted).toBe(true)
      expect(signal.reason).toBeInstanceOf(CancelledError)
      expect((signal.reason as Error).message).toMatch(/^The run was cancelled \(SIGTERM\)\./)
      process.emit('SIGINT', 'SIGINT')
      expect((signal.reason as Error).message).toContain('SIGTERM')
    } finally {
      stop()
    }
    expect(process.listenerCount('SIGINT')).toBe(listeners)
  })
})

describe('sleep', () => {
  it('waits, or rejects at once with the reason when cancelled', async () => {
    const controller = new AbortController()
    const started = Date.now()
    const waiting = sleep(10_000, controller.signal)
    controller.abort(new Error('stop'))
    await expect(waiting).rejects.toThrow('stop')
    expect(Date.now() - started).toBeLessThan(1000)
    await expect(sleep(5, controller.signal)).rejects.toThrow('stop')
    await expect(sleep(5)).resolves.toBeUndefined()
  })
})

describe('workflow runs', () => {
  it('names the run of this job from the runner environment', () => {
    expect(workflowRunOf({ GITHUB_REPOSITORY: 'octo/shop', GITHUB_RUN_ID: '77', GITHUB_RUN_ATTEMPT: '2' })).toBe('octo/shop 77 2')
    expect(workflowRunOf({ GITHUB_REPOSITORY: 'octo/shop', GITHUB_RUN_ID: '77' })).toBe('octo/shop 77 1')
    expect(workflowRunOf({})).toBeUndefined()
  })

  it('counts a run as finished only when GitHub says completed; anything unclear proves nothing', async () => {
    const asked: unknown[] = []
    const api = {
      rest: {
        actions: {
          getWorkflowRunAttempt: async (params: { run_id: number }) => {
            asked.push(params)
            if (params.run_id === 3) throw new Error('Resource not accessible by integration')
            return { data: { status: params.run_id === 1 ? 'completed' : 'in_progress' } }
          },
        },
      },
    } as unknown as GitHubApi
    const finished = workflowRunFinished(api)
    expect(await finished('octo/shop 1 1')).toBe(true)
    expect(await finished('octo/shop 2 1')).toBe(false)
    expect(await finished('octo/shop 3 1')).toBe(false)
    expect(await finished('garbage')).toBe(false)
    expect(asked).toEqual([1, 2, 3].map((id) => ({ owner: 'octo', repo: 'shop', run_id: id, attempt_number: 1 })))
  })
})
