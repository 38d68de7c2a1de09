#!/usr/bin/env node
import { cli } from './cli'
import { run } from './main'

// One bundle for both: the Actions runner starts it with no arguments; the vic-lb command
// (package.json "bin") always passes a command or --help.
void (process.argv.length > 2 ? cli(process.argv.slice(2)) : run())
