import { createHash, randomBytes } from 'node:crypto'

// basic-auth: every request to the service needs one of the given user:password pairs. HAProxy's
// own `userlist` runs crypt(3) on every request (SHA-512 crypt: thousands of rounds), which costs
// most of the throughput. Instead the configuration holds, per pair, the SHA-256 of a random
// per-load-balancer salt followed by `user:password`, and HAProxy hashes what a request presents
// the same way (one SHA-256 per request) and looks the digest up. The load-balancer never holds a
// password, only these digests; fast to check also means fast to guess offline (README).

export interface Credentials {
  user: string
  password: string
}

// What the service frontend checks requests against.
export interface BasicAuthCheck {
  // The WWW-Authenticate realm: a browser shows it and keeps credentials per realm.
  realm: string
  // Hex, random per load-balancer: the same password gets another digest on another one.
  salt: string
  // Upper-case hex, as HAProxy's `hex` converter writes it.
  digests: string[]
}

// The variable that holds the presented credentials' digest; its first line carries the salt.
const DIGEST_VAR = 'txn.basic_auth_digest'
const SALT_LINE = new RegExp(`^\\s*http-request set-var-fmt\\(${DIGEST_VAR.replace('.', '\\.')}\\) ([0-9a-f]+)%`, 'm')
const DIGEST_LINE = /^(\s*acl known_credentials \S+ -m str )([0-9A-F]{64})\s*$/gm

export function newBasicAuthSalt(): string {
  return randomBytes(16).toString('hex')
}

// The salt a load-balancer's configuration holds, undefined when it checks no credentials: a kept
// load-balancer keeps its salt, so the same inputs render the same configuration (no reload).
export function basicAuthSaltIn(config: string): string | undefined {
  return SALT_LINE.exec(config)?.[1]
}

export function basicAuthCheck(realm: string, salt: string, credentials: Credentials[]): BasicAuthCheck {
  return { realm, salt, digests: credentials.map((c) => digestOf(salt, c)) }
}

// The Authorization header that presents them.
export function basicAuthorization({ user, password }: Credentials): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
}

function digestOf(salt: string, { user, password }: Credentials): string {
  return createHash('sha256').update(`${salt}${user}:${password}`, 'utf8').digest('hex').toUpperCase()
}

// Frontend lines: a request whose credentials' digest is not in the list gets 401 with a Basic
// challenge. The Authorization header is removed once checked, so that no instance ever sees a
// password (it could log it); an application's own authentication cannot share it anyway.
export function basicAuthLines({ realm, salt, digests }: BasicAuthCheck): string[] {
  return [
    // Absent or non-Basic credentials leave the user and password empty: a digest of the salt and
    // ':' alone, which is no one's.
    `    http-request set-var-fmt(${DIGEST_VAR}) ${salt}%[http_auth_user]:%[http_auth_pass]`,
    `    http-request set-var(${DIGEST_VAR}) var(${DIGEST_VAR}),sha2(256),hex`,
    ...digests.map((digest) => `    acl known_credentials var(${DIGEST_VAR}) -m str ${digest}`),
    `    http-request auth realm ${realm} unless known_credentials`,
    '    http-request del-header Authorization',
  ]
}

// The configuration as it may be shown (the job summary, readable by anyone who can read the
// repository's runs): with the salt, the digests could be tried against guessed passwords offline.
export function withoutBasicAuthDigests(config: string): string {
  return config.replace(DIGEST_LINE, '$1(salted SHA-256, kept only in the load-balancer)')
}
