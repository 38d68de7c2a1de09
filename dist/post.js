// The post step's entry (action.yml runs.post), copied to dist/post.js by the build: the same
// bundle as the main step, told which step it is by this file's name. Nothing the main step
// writes decides it, so a main step cancelled before it wrote anything never runs twice.
require('./index.js')
