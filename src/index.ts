#!/usr/bin/env node
import * as nodeModule from 'node:module'

// Node 22.1 and later keep the code they compile in the temp directory for the next start, which
// then takes 50 ms less: the post step after the main step, and every run on a runner or machine
// that keeps its temp directory. Only what is loaded after this is cached, so the action itself
// (start.ts) comes in a chunk of its own. (@types/node 20 does not know the function yet.)
;(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.()
void import('./start')
