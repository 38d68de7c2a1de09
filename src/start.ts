import { cli } from './cli'
import { run } from './main'
import { post } from './post'
import * as path from 'node:path'

// One bundle for all three: the Actions runner starts it with no arguments, as the main step
// (dist/index.js) and as the post step (dist/post.js, which loads index.js); the vic-lb
// command (package.json "bin") always passes a command or --help. A cancelled run exits as soon as
// it has taken back what it changed, whatever it was still waiting for.
void (process.argv.length > 2
  ? cli(process.argv.slice(2))
  : path.basename(process.argv[1] ?? '') === 'post.js'
    ? post()
    : run().then(({ cancelled }) => cancelled && process.exit()))
