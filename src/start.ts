import { cli } from './cli'
import { run } from './main'
import { post } from './post'
import { isPost } from './state-helper'

// One bundle for all three: the Actions runner starts it with no arguments, as the main step and
// again as the post step (action.yml runs.post; state-helper.ts tells them apart); the vic-lb
// command (package.json "bin") always passes a command or --help. A cancelled run exits as soon as
// it has taken back what it changed, whatever it was still waiting for.
void (process.argv.length > 2 ? cli(process.argv.slice(2)) : isPost() ? post() : run().then(({ cancelled }) => cancelled && process.exit()))
