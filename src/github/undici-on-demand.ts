// What the bundle has in place of undici (tsconfig.json "paths", which ncc resolves by).
// @actions/http-client loads undici as it loads, and @actions/core loads @actions/http-client, so
// every run paid for it, about 8 MB of a run's memory on Node 24 (the bundle's --help: 71 MB with
// it, 63 MB without), parsed or not. Only the GitHub API client uses it: @actions/github's fetch,
// and its proxy agent when a proxy is set, made as the client is. So undici comes in a chunk of its
// own, loaded with the client (api.ts connectGitHub).
import type * as Undici from 'undici/index.js'

let undici: typeof Undici | undefined

// A specifier "paths" does not map: the real undici.
export async function loadUndici(): Promise<void> {
  undici ??= await import('undici/index.js')
}

function loaded(): typeof Undici {
  if (!undici) throw new Error('undici is used before it was loaded (src/github/undici-on-demand.ts loadUndici)')
  return undici
}

export const fetch: typeof Undici.fetch = (...args) => loaded().fetch(...args)

// Called with `new`, as @actions/http-client does: a constructor that returns undici's own object.
export const ProxyAgent = function ProxyAgent(...args: ConstructorParameters<typeof Undici.ProxyAgent>) {
  return new (loaded().ProxyAgent)(...args)
} as unknown as typeof Undici.ProxyAgent
