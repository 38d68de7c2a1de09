"use strict";
exports.id = 751;
exports.ids = [751];
exports.modules = {

/***/ 7132:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

__webpack_require__.r(__webpack_exports__);
/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   Client: () => (/* binding */ Client),
/* harmony export */   Server: () => (/* binding */ Server),
/* harmony export */   loadSync: () => (/* binding */ loadSync)
/* harmony export */ });
// What the bundle has in place of ssh2, @grpc/grpc-js, @grpc/proto-loader and protobufjs
// (tsconfig.json "paths", which ncc resolves by). docker-modem and dockerode load them for ssh://
// Docker hosts and BuildKit builds, neither of which the action uses: it talks to unix, tcp, http
// and https hosts (target.ts) and builds no image. Loaded, they cost every run memory (ssh2 alone
// allocates a 16 MB WebAssembly heap for its Poly1305 cipher) and start-up time; bundled, even
// unloaded, their source is read and parsed (protobufjs: a third of the main chunk).
function notBundled(what) {
    throw new Error(`${what} is not part of vic-lb-action's bundle`);
}
// ssh2: docker-modem makes one only for an ssh:// host.
class Client {
    constructor() {
        notBundled('SSH transport (ssh:// Docker hosts)');
    }
}
// @grpc/grpc-js: dockerode makes one only for a BuildKit build's session.
class Server {
    constructor() {
        notBundled('BuildKit session (gRPC)');
    }
}
// @grpc/proto-loader and protobufjs: likewise, and for a BuildKit build's status.
function loadSync() {
    return notBundled('BuildKit build (gRPC, protobuf)');
}


/***/ }),

/***/ 9305:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

__webpack_require__.r(__webpack_exports__);
/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   ProxyAgent: () => (/* binding */ ProxyAgent),
/* harmony export */   fetch: () => (/* binding */ fetch),
/* harmony export */   loadUndici: () => (/* binding */ loadUndici)
/* harmony export */ });
let undici;
// A specifier "paths" does not map: the real undici.
async function loadUndici() {
    undici ??= await __webpack_require__.e(/* import() */ 752).then(__webpack_require__.t.bind(__webpack_require__, 4371, 19));
}
function loaded() {
    if (!undici)
        throw new Error('undici is used before it was loaded (src/github/undici-on-demand.ts loadUndici)');
    return undici;
}
const fetch = (...args) => loaded().fetch(...args);
// Called with `new`, as @actions/http-client does: a constructor that returns undici's own object.
const ProxyAgent = function ProxyAgent(...args) {
    return new (loaded().ProxyAgent)(...args);
};


/***/ }),

/***/ 2216:
/***/ ((__unused_webpack_module, __unused_webpack___webpack_exports__, __webpack_require__) => {


// EXTERNAL MODULE: external "node:fs"
var external_node_fs_ = __webpack_require__(3024);
// EXTERNAL MODULE: external "node:util"
var external_node_util_ = __webpack_require__(7975);
// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __webpack_require__(7598);
// EXTERNAL MODULE: external "node:net"
var external_node_net_ = __webpack_require__(7030);
// EXTERNAL MODULE: ./node_modules/yaml/dist/index.js
var dist = __webpack_require__(8815);
;// CONCATENATED MODULE: ./src/haproxy/basic-auth.ts

// The variable that holds the presented credentials' digest; its first line carries the salt.
const DIGEST_VAR = 'txn.basic_auth_digest';
const SALT_LINE = new RegExp(`^\\s*http-request set-var-fmt\\(${DIGEST_VAR.replace('.', '\\.')}\\) ([0-9a-f]+)%`, 'm');
const DIGEST_LINE = /^(\s*acl known_credentials \S+ -m str )([0-9A-F]{64})\s*$/gm;
function newBasicAuthSalt() {
    return (0,external_node_crypto_.randomBytes)(16).toString('hex');
}
// The salt a load-balancer's configuration holds, undefined when it checks no credentials: a kept
// load-balancer keeps its salt, so the same inputs render the same configuration (no reload).
function basicAuthSaltIn(config) {
    return SALT_LINE.exec(config)?.[1];
}
function basicAuthCheck(realm, salt, credentials) {
    return { realm, salt, digests: credentials.map((c) => digestOf(salt, c)) };
}
// The Authorization header that presents them.
function basicAuthorization({ user, password }) {
    return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}
function digestOf(salt, { user, password }) {
    return (0,external_node_crypto_.createHash)('sha256').update(`${salt}${user}:${password}`, 'utf8').digest('hex').toUpperCase();
}
// Frontend lines: a request whose credentials' digest is not in the list gets 401 with a Basic
// challenge. The Authorization header is removed once checked, so that no instance ever sees a
// password (it could log it); an application's own authentication cannot share it anyway.
function basicAuthLines({ realm, salt, digests }) {
    return [
        // Absent or non-Basic credentials leave the user and password empty: a digest of the salt and
        // ':' alone, which is no one's.
        `    http-request set-var-fmt(${DIGEST_VAR}) ${salt}%[http_auth_user]:%[http_auth_pass]`,
        `    http-request set-var(${DIGEST_VAR}) var(${DIGEST_VAR}),sha2(256),hex`,
        ...digests.map((digest) => `    acl known_credentials var(${DIGEST_VAR}) -m str ${digest}`),
        `    http-request auth realm ${realm} unless known_credentials`,
        '    http-request del-header Authorization',
    ];
}
// The configuration as it may be shown (the job summary, readable by anyone who can read the
// repository's runs): with the salt, the digests could be tried against guessed passwords offline.
function withoutBasicAuthDigests(config) {
    return config.replace(DIGEST_LINE, '$1(salted SHA-256, kept only in the load-balancer)');
}

;// CONCATENATED MODULE: ./src/haproxy/stats-auth.ts

const STATS_USER = 'vic-lb';
const AUTH_LINE = /^\s*stats auth ([^:\s]+):(\S+)\s*$/m;
// Hex: no character that HAProxy's config parser or HTTP Basic auth would read specially.
function newStatsAuth() {
    return { user: STATS_USER, password: (0,external_node_crypto_.randomBytes)(24).toString('hex') };
}
function statsAuthLine(auth) {
    return `stats auth ${auth.user}:${auth.password}`;
}
// The credentials a configuration holds, undefined when it has none (a load-balancer made by an
// earlier version of the action).
function statsAuthIn(config) {
    const match = AUTH_LINE.exec(config);
    return match ? { user: match[1], password: match[2] } : undefined;
}
// The configuration as it may be shown (the job summary): everything but the password.
function withoutStatsPassword(config) {
    return config.replace(AUTH_LINE, (line) => line.replace(/:(\S+)\s*$/, ':(generated, kept only in the load-balancer)'));
}

;// CONCATENATED MODULE: ./src/haproxy/config.ts
// Load-balance HTTP requests or plain TCP connections (the protocol input).
const PROTOCOLS = ['http', 'tcp'];



// Where the readiness check reads HAProxy's own view of every server (see readiness.ts).
const STATS_PORT = 8404;
const STATS_PATH = '/stats';
const CONFIG_DIR = '/usr/local/etc/haproxy';
const CONFIG_FILE = 'haproxy.cfg';
// lb-certificate: chain and key in one file, readable by HAProxy's user only (putCertificate in reload.ts).
const CERTIFICATE_FILE = 'service.pem';
const CERTIFICATE_PATH = `${CONFIG_DIR}/${CERTIFICATE_FILE}`;
// The stats page's own certificate and key (stats-certificate.ts), put in the same way.
const STATS_CERTIFICATE_FILE = 'stats.pem';
const STATS_CERTIFICATE_PATH = `${CONFIG_DIR}/${STATS_CERTIFICATE_FILE}`;
// The configuration a kept load-balancer had before a deploy changed it, for the post step of a
// deploy that was killed (post.ts).
const PREVIOUS_CONFIG_FILE = 'haproxy.cfg.before-deploy';
const PREVIOUS_CERTIFICATE_FILE = 'service.pem.before-deploy';
// How long HAProxy keeps a client's idle keep-alive connection (HTTP). A client that sends on it
// just as HAProxy closes it gets a reset, so this is longer than clients that ignore the
// Keep-Alive header (Node's bare http.Agent, Python's urllib3) usually wait between requests.
const HTTP_KEEP_ALIVE_S = 10;
// What the frontend announces in a `Keep-Alive: timeout=N` header: shorter than HTTP_KEEP_ALIVE_S,
// so that clients that read it (Node's default agent, fetch) let go of an idle connection after a
// second and a reload's old worker, which keeps idle connections until they close, exits soon.
const ANNOUNCED_KEEP_ALIVE_S = 2;
// The frontend sends traffic to SERVING_BACKEND only. Instances that are about to join are first
// put in CANDIDATE_BACKEND, where they are health-checked without receiving traffic.
const SERVING_BACKEND = 'instances';
const CANDIDATE_BACKEND = 'candidates';
// A candidate is admitted after one passed check: its backend gets no traffic, and once it serves,
// rise 2 (default-server in the defaults) applies to it as to every serving instance.
const CANDIDATE_CHECK = '    default-server rise 1';
// Companion services with a port: checked with a TCP connect, as the instances would reach them,
// and never sent traffic. The deploy waits there until they accept connections, since the runner
// cannot reach the deployment's network; the stats page shows them ever after.
const SERVICES_BACKEND = 'services';
// The stats page names the configuration of the worker that serves it in this header, so that
// readiness can tell when a reload has taken effect, even one that moves no instance (a changed
// allow-cidrs or basic-auth): until then the previous worker may still take new connections.
const CONFIG_ID_HEADER = 'x-vic-lb-config';
const CONFIG_ID_PLACEHOLDER = '@config-id@';
function configForms(render) {
    const idOf = (config) => config_digestOf(render(config, 'last,libc,none'));
    return {
        text: (config) => {
            const text = render(config, 'last,libc,none');
            return text.replace(CONFIG_ID_PLACEHOLDER, config_digestOf(text));
        },
        toCheck: (config) => render(config, 'none').replace(CONFIG_ID_PLACEHOLDER, idOf(config)),
        idOf,
    };
}
function config_digestOf(text) {
    return (0,external_node_crypto_.createHash)('sha256').update(text).digest('hex').slice(0, 16);
}
const ownConfig = configForms(render);
// Every value that reaches this text has been checked against a strict pattern (inputs.ts), so
// none can carry a space, newline, '#' or '$' that would change the configuration.
const renderHaproxyConfig = ownConfig.text;
// Pure: the id renderHaproxyConfig(config) carries, a digest of the rest of its text.
const configIdOf = ownConfig.idOf;
// What `haproxy -c` checks before a reload: the same configuration, except that it looks no server
// name up. At start an unresolvable name is no error anyway (init-addr ends in none), so the
// lookups can only slow the check down, and on Podman they stalled it for 25-40 s right after
// containers started (aardvark-dns). The reload itself still looks the names up, so that the new
// worker sends traffic at once.
const renderConfigToCheck = ownConfig.toCheck;
function render(config, initAddr) {
    const http = config.protocol === 'http';
    return configText([
        ...leadingSections(config, config.timeouts.drain, {
            protocol: config.protocol,
            // The client side waits for the answer as long as the server side may take to give it.
            clientTimeout: config.timeouts.response,
            serverTimeouts: config.timeouts,
            initAddr,
        }),
        [
            'frontend service',
            serviceBind(config),
            ...sourceCheck(config),
            ...(config.basicAuth ? basicAuthLines(config.basicAuth) : []),
            ...(http ? forwardingRules(config) : []),
            `    default_backend ${SERVING_BACKEND}`,
        ],
        ...(config.redirectListenPort ? [redirectToHttps(config.redirectListenPort, config.servicePort, sourceCheck(config))] : []),
        backend(SERVING_BACKEND, config.serving, config),
        ...(config.candidates.length > 0 ? [backend(CANDIDATE_BACKEND, config.candidates, config, [CANDIDATE_CHECK])] : []),
        ...(config.services?.length ? [[`backend ${SERVICES_BACKEND}`, ...config.services.map(serverLine)]] : []),
    ]);
}
// Sections (each a list of lines) apart by a blank line, as HAProxy reads them.
function configText(sections) {
    return sections.map((lines) => lines.join('\n')).join('\n\n') + '\n';
}
// How long a client may take to send a request's headers (HTTP).
const HTTP_REQUEST_TIMEOUT_S = 10;
// The sections every load-balancer starts with: the process, name resolution, what every proxy
// inherits, and the stats page.
function leadingSections(settings, drain, defaults) {
    return [globalSection(settings, drain), resolversSection(), defaultsSection(defaults), statsFrontend(settings)];
}
function globalSection({ startsAsRoot }, drain) {
    return [
        'global',
        '    log stdout format raw local0',
        // No global maxconn: HAProxy sizes it from the container's file-descriptor limit, where the
        // recipe's 256 (and 32 per server) queued and refused requests under load.
        // Old workers keep finishing their connections after a reload, but not forever.
        `    hard-stop-after ${drain}s`,
        ...(startsAsRoot ? ['    user haproxy', '    group haproxy'] : []),
    ];
}
function resolversSection() {
    return [
        // Instances come and go while the load-balancer runs, so their names are resolved at run time
        // through the container's own resolver (Docker's embedded DNS, or the VCH's).
        'resolvers docker',
        '    parse-resolv-conf',
        '    resolve_retries 3',
        // Names of instances that start alongside the load-balancer resolve within this.
        '    timeout resolve 500ms',
        '    timeout retry 1s',
        '    hold valid 10s',
    ];
}
function defaultsSection({ protocol, clientTimeout, serverTimeouts, initAddr }) {
    const http = protocol === 'http';
    return [
        'defaults',
        `    mode ${protocol}`,
        '    log global',
        http ? '    option httplog' : '    option tcplog',
        '    option dontlognull',
        // Successful requests are not logged, only errors, retries and 5xx: every log line goes
        // through the container's stdout and the Docker daemon's log driver, which cost about 30% of
        // the throughput at 100 connections on a 2-core host (bench/load.ts).
        '    option dontlog-normal',
        // A killed instance's address stops answering at all (no refusal), so a request sent there
        // waits out this timeout before it is retried elsewhere: short, as a connect on the instances'
        // own network takes well under a millisecond when the instance is alive.
        '    timeout connect 1s',
        `    timeout client ${clientTimeout}s`,
        ...(serverTimeouts ? serverTimeoutLines(serverTimeouts) : []),
        '    timeout queue 30s',
        ...(http
            ? [
                `    timeout http-request ${HTTP_REQUEST_TIMEOUT_S}s`,
                // On a reload the old worker does not close idle keep-alive connections under a client
                // that may be sending on them; it answers their next request with `Connection: close`.
                '    option idle-close-on-response',
                // ...and those still idle after this long are closed as usual, so that the old worker
                // exits and the drain (drainOldWorkers in reload.ts) ends.
                `    timeout http-keep-alive ${HTTP_KEEP_ALIVE_S}s`,
            ]
            : []),
        // A request that fails to connect is retried on another instance at once (every retry
        // redispatches; the default waits 1 s and retries the same instance until the last one).
        '    retries 3',
        '    option redispatch 1',
        ...(http
            ? [
                // ...and so is one whose instance died before answering (its connection closed or was
                // reset): the kernel of a killed instance resets the requests in flight. Only GET and
                // HEAD, which are safe to send twice (disable-l7-retry in the backends).
                '    retry-on conn-failure empty-response',
            ]
            : []),
        // Check often so that readiness is seen quickly and a dead instance leaves rotation fast; a
        // server that cannot be resolved yet starts disabled instead of stopping HAProxy. A check of a
        // killed instance fails only at its timeout (inter): with fall 2 it is out within about three
        // check intervals, where fall 3 took 4-5 s at 1 s intervals (e2e load test). Docker's DNS
        // answers for an instance as soon as its container joins the network, before its process
        // listens, so its first check can fail and mark it DOWN before it runs. A DOWN server is
        // checked every downinter, and after its first pass every fastinter (HAProxy's srv_getinter),
        // so a new instance is admitted 0.1-0.2 s after it answers (rise 2: two passes 0.1 s apart).
        // Checking a server that serves nothing costs no traffic anything, and rise 2 stays: an
        // instance that failed while serving needs two passes in a row to get traffic again, so one
        // lucky answer of a flapping instance does not put it back. fastinter also paces the checks of
        // an UP server that just failed one: a dead instance is out 0.1 s after its first failed check.
        // A check connects within min(timeout connect, inter) and then waits this long for the answer:
        // without it the whole check had inter (0.5 s), so an application whose health path takes
        // longer (a database query, a cold start) never became healthy. A hung instance is still out
        // after two such checks.
        '    timeout check 2s',
        `    default-server check inter 500ms fastinter 100ms downinter 100ms rise 2 fall 2 resolvers docker resolve-prefer ipv4 init-addr ${initAddr}`,
    ];
}
// In the defaults, or in each backend that has its own (the ingress: per route).
function serverTimeoutLines({ response, tunnel }) {
    return [
        `    timeout server ${response}s`,
        // Once a connection is upgraded (websocket) it may stay idle this long; it replaces the client
        // and server timeouts.
        `    timeout tunnel ${tunnel}s`,
    ];
}
function statsFrontend({ statsCertificateFile, statsAuth }) {
    return [
        'frontend stats',
        '    mode http',
        `    bind :${STATS_PORT} ssl crt ${statsCertificateFile}`,
        '    stats enable',
        `    stats uri ${STATS_PATH}`,
        // Without credentials HAProxy answers 401: the page lists every instance (stats-auth.ts). TLS
        // keeps the credentials and the page off the network (stats-certificate.ts).
        `    ${statsAuthLine(statsAuth)}`,
        // Readiness polls would otherwise fill the log.
        '    http-request set-log-level silent',
        // http-response rules skip the stats page's own answers; http-after-response rules do not.
        `    http-after-response set-header ${CONFIG_ID_HEADER} ${CONFIG_ID_PLACEHOLDER}`,
    ];
}
// The service frontend's bind line. HTTP/2 or HTTP/1.1 to clients over TLS, named explicitly so
// that 2.6 (which offers only HTTP/1.1 by default) behaves like 2.8+; the instances always get HTTP/1.1.
function serviceBind({ listenPort, certificateFile }) {
    return `    bind :${listenPort}${certificateFile ? ` ssl crt ${certificateFile} alpn h2,http/1.1` : ''}`;
}
// The service frontend's rules for HTTP: what the instances are told about the client, and what
// the client is told about its connection.
function forwardingRules(settings) {
    return [
        ...forwardedHeaders(settings),
        // Clients that read this header (Node's default agent and fetch close an idle connection a
        // second before the time announced) never send into HAProxy's close, and let go of an old
        // worker soon after a reload. It replaces whatever an instance announced for its own
        // connection to HAProxy (Node's own server says 5 s), and HTTP/2 leaves it out of its answers.
        `    http-response set-header Keep-Alive timeout=${ANNOUNCED_KEEP_ALIVE_S}`,
    ];
}
// What the client reached, as the instances need it to build their own URLs and to know whom they
// serve. Set, never appended to: a value a client sent could otherwise pass for the load-balancer's.
function forwardedHeaders({ certificateFile, servicePort }) {
    return [
        `    http-request set-header X-Forwarded-Proto ${certificateFile ? 'https' : 'http'}`,
        '    http-request set-header X-Forwarded-Host %[req.hdr(host)]',
        `    http-request set-header X-Forwarded-Port ${servicePort}`,
        '    http-request set-header X-Forwarded-For %[src]',
    ];
}
// The same host, on HTTPS's port: the Host header's own port (if any) is replaced, an IPv6
// literal's colons kept. A permanent redirect, so that browsers go to HTTPS at once next time.
// Credentials are asked for only once on HTTPS, so that they never cross the network in clear.
// `admission`: the rules a request passes first (allow-cidrs).
function redirectToHttps(listenPort, httpsPort, admission) {
    return [
        'frontend http-redirect',
        `    bind :${listenPort}`,
        ...admission,
        `    http-request replace-header Host ^(.*?)(:[0-9]+)?$ \\1${httpsPort === 443 ? '' : `:${httpsPort}`}`,
        '    http-request redirect scheme https code 301',
    ];
}
// `settings`: what this backend sets for itself before the checks (the ingress's per-route
// timeouts and allow-cidrs).
function backend(name, servers, check, settings = []) {
    return [
        `backend ${name}`,
        '    balance roundrobin',
        ...settings,
        ...(check.protocol === 'http' ? ['    http-request disable-l7-retry unless METH_GET'] : []),
        ...(check.healthCheckPath
            ? ['    option httpchk', `    http-check send meth GET uri ${check.healthCheckPath}`, '    http-check expect status 200-399']
            : []),
        ...servers.map(serverLine),
    ];
}
function serverLine(server) {
    return `    server ${server.name} ${server.name}:${server.port}`;
}
// allow-cidrs, before anything else of a request is looked at. HTTP (and HTTPS, after the
// handshake) answers 403, so that a person sees why; TCP can only close the connection, at once.
function sourceCheck({ allowedSources, protocol }) {
    if (!allowedSources)
        return [];
    return [
        ...allowedSources.map((cidr) => `    acl allowed_source src ${cidr}`),
        protocol === 'http' ? '    http-request deny deny_status 403 unless allowed_source' : '    tcp-request connection reject unless allowed_source',
    ];
}

;// CONCATENATED MODULE: ./src/errors.ts
// A value given to the action that it cannot use. Thrown before anything on the Docker host
// changes; its message names the input and the accepted form, never a secret value.
class InputError extends Error {
}
// A run that can no longer vouch for its deployment's lease (lock.ts): another run may be changing
// the deployment, so this one changes nothing more, its undo included.
class LeaseLostError extends Error {
}

;// CONCATENATED MODULE: ./src/github/event.ts

// Pure: `owner/repo`, as GITHUB_REPOSITORY holds it.
function repositoryOf(text) {
    const [owner, repo, ...rest] = (text ?? '').split('/');
    return owner && repo && rest.length === 0 ? { owner, repo } : undefined;
}
// Pure: the pull request of an event payload, if it has one (pull_request, pull_request_target
// and their kin).
function pullRequestOf(payload, repository) {
    const number = payload?.pull_request?.number;
    if (!repository || typeof number !== 'number' || !Number.isInteger(number) || number < 1)
        return undefined;
    return { ...repository, number };
}
function currentRepository(env = process.env) {
    return repositoryOf(env.GITHUB_REPOSITORY);
}
// Pure: the pull request's head commit. On a pull_request event GITHUB_SHA is the merge commit
// GitHub made, not the commit the pull request shows.
function headShaOf(payload) {
    const sha = payload?.pull_request?.head?.sha;
    return typeof sha === 'string' && sha ? sha : undefined;
}
// The runner writes the event payload to GITHUB_EVENT_PATH. Outside a run (the CLI, tests) there
// is none, and so no pull request.
function currentEvent(env) {
    const file = env.GITHUB_EVENT_PATH;
    if (!file || !external_node_fs_.existsSync(file))
        return undefined;
    try {
        return JSON.parse(external_node_fs_.readFileSync(file, 'utf8'));
    }
    catch {
        return undefined;
    }
}
function currentPullRequest(env = process.env) {
    return pullRequestOf(currentEvent(env), currentRepository(env));
}
// The commit a run deploys: the pull request's head, else the commit the run is for.
function currentCommit(env = process.env) {
    return headShaOf(currentEvent(env)) ?? (env.GITHUB_SHA?.trim() || undefined);
}
// As a label value: `owner/repo#42`, the form GitHub itself writes cross-repository references in.
function formatPullRequest(pr) {
    return `${pr.owner}/${pr.repo}#${pr.number}`;
}
function parsePullRequest(text) {
    const match = /^([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)#([1-9][0-9]*)$/.exec(text ?? '');
    return match ? { owner: match[1], repo: match[2], number: Number(match[3]) } : undefined;
}
// GitHub treats owner and repository names case-insensitively.
function inRepository(pr, repository) {
    return pr.owner.toLowerCase() === repository.owner.toLowerCase() && pr.repo.toLowerCase() === repository.repo.toLowerCase();
}
// The page of the workflow run, for a comment to link to; undefined outside GitHub Actions.
function runUrlOf(env = process.env) {
    const { GITHUB_SERVER_URL: server, GITHUB_REPOSITORY: repository, GITHUB_RUN_ID: run } = env;
    return server && repository && run ? `${server}/${repository}/actions/runs/${run}` : undefined;
}

;// CONCATENATED MODULE: ./src/labels.ts


// Labels mark every object the action creates, so re-runs, scaling and teardown find exactly
// this deployment's objects and never anybody else's. Labels work on a VCH as on dockerd.
const NAMESPACE = 'io.github.vic-lb-action';
const LABEL = {
    // The deployment an object belongs to: its instance-prefix.
    deployment: `${NAMESPACE}.deployment`,
    // Who deployed it: the repository (`owner/repo`) or a local name (owner.ts). Objects made before
    // this label existed have none.
    owner: `${NAMESPACE}.owner`,
    role: `${NAMESPACE}.role`,
    // Instances: what they run, as a short hash (see plan.ts); and their place in the generation.
    generation: `${NAMESPACE}.generation`,
    index: `${NAMESPACE}.index`,
    port: `${NAMESPACE}.port`,
    // Load-balancer: the settings that need a new container when they change.
    lbSpec: `${NAMESPACE}.lb-spec`,
    // Companion services and their volumes: the service's name (services input), and what its
    // container runs as a short hash (services/plan.ts).
    service: `${NAMESPACE}.service`,
    serviceSpec: `${NAMESPACE}.service-spec`,
    // A service's volume: the path inside the container it is mounted at.
    volumePath: `${NAMESPACE}.volume-path`,
    created: `${NAMESPACE}.created`,
    // A shared ingress (src/ingress): its name on the ingress itself, its network and each route
    // record; and the host name a route record serves.
    ingress: `${NAMESPACE}.ingress`,
    hostname: `${NAMESPACE}.hostname`,
    // The settings a shared ingress was made with (ingress/ensure.ts IngressSpec), as JSON.
    ingressSpec: `${NAMESPACE}.ingress-spec`,
    // The pull request the deployment previews, `owner/repo#42`: prune removes it once closed.
    pullRequest: `${NAMESPACE}.pr`,
    // Lock: who holds it (a workflow run, or host and process) and for what (deploy, teardown, prune).
    holder: `${NAMESPACE}.holder`,
    operation: `${NAMESPACE}.operation`,
    // Lock: the holder's process, so that a lock whose process is provably gone is taken over (lock.ts).
    holderProcess: `${NAMESPACE}.holder-process`,
    // ...and its workflow run, which GitHub can say has completed (github/runs.ts).
    holderRun: `${NAMESPACE}.holder-run`,
    // Lock: how long (ms) its lease may go unrenewed before a waiting run takes it over (lock.ts).
    leaseLapse: `${NAMESPACE}.lease-lapse-ms`,
    // The run that created the object: what the post step of a killed run removes (post.ts).
    run: `${NAMESPACE}.run`,
};
// Names this process's run in the labels of what it creates.
const THIS_RUN = (0,external_node_crypto_.randomBytes)(8).toString('hex');
// The owner outside a workflow run when no --owner is given.
const LOCAL_OWNER = 'local';
let runOwner = LOCAL_OWNER;
// The owner of everything this process creates, set once from the inputs (main.ts) like THIS_RUN:
// every object, the lock included, records it without the callers passing it along.
function useOwner(owner) {
    runOwner = owner;
}
// The pull request comes from the event of the run, so every object a pull request's run
// creates carries it without the callers passing it along.
function deploymentLabels(deployment, role, extra = {}) {
    return labelsFor(LABEL.deployment, deployment, role, extra);
}
// A shared ingress's own objects (src/ingress) belong to no deployment: named by the ingress label.
function ingressLabels(ingress, role, extra = {}) {
    return labelsFor(LABEL.ingress, ingress, role, extra);
}
function labelsFor(key, name, role, extra) {
    const pullRequest = currentPullRequest();
    return {
        [key]: name,
        [LABEL.owner]: runOwner,
        [LABEL.role]: role,
        [LABEL.created]: new Date().toISOString(),
        [LABEL.run]: THIS_RUN,
        ...(pullRequest ? { [LABEL.pullRequest]: formatPullRequest(pullRequest) } : {}),
        ...extra,
    };
}

;// CONCATENATED MODULE: ./src/names.ts
// The names of the objects a deployment owns on the Docker host, derived from its instance-prefix.
// A leaf module: inputs, planning and the lock all need them.
function networkName(deployment) {
    return `${deployment}-net`;
}
function instanceName(deployment, generation, index) {
    return `${deployment}-${generation}-${index}`;
}
// The lock container (lock.ts) of a deployment, or of a shared ingress's routes.
function lockName(locked) {
    return `${locked}-lock`;
}
function describeLocked({ kind, name }) {
    return `${kind} '${name}'`;
}
// The record of a routed deployment's route on a shared ingress (src/ingress/record.ts).
function routeName(deployment) {
    return `${deployment}-route`;
}
// The one-off container that runs the release command of a generation (src/release).
function releaseName(deployment, generation) {
    return `${deployment}-release-${generation}`;
}
// A companion service's container. Instances are `<deployment>-<hex generation>-<n>`, so `svc`
// never names a generation; the instances reach the service by its own name (a network alias).
function serviceContainerName(deployment, service) {
    return `${deployment}-svc-${service}`;
}
// A replaced service's container until traffic has moved (old), and its replacement until the old
// one has stopped (next): a service name is a DNS label, which has no dot, so no other service's
// container can have these names.
function besideName(name, which) {
    return `${name}.${which}`;
}
// A service's volume, one per path: a new path gets a new volume while the old one stays for the undo.
function serviceVolumeName(deployment, service, pathHash) {
    return `${deployment}-svc-${service}-${pathHash}`;
}

;// CONCATENATED MODULE: ./src/inputs.ts
// Every input of the action (and flag of the CLI), parsed into one typed object and checked
// before anything on the Docker host is touched. The table below is the single source of the
// inputs' names, defaults and descriptions; a unit test keeps action.yml in step with it.







const COMMANDS = ['deploy', 'teardown', 'prune', 'remove-ingress'];
const PULL_POLICIES = ['always', 'missing', 'never'];
// The deployment deploy and teardown act on when instance-prefix is empty. Prune has no default:
// removing deployments is never done on a guess.
const DEFAULT_DEPLOYMENT = 'web';
// A pinned LTS branch: `haproxy:lts` moves to a new branch every June.
const DEFAULT_HAPROXY_IMAGE = 'haproxy:3.2';
const INPUT_SPECS = [
    {
        name: 'command',
        default: 'deploy',
        description: 'What to do: `deploy`, `teardown`, `prune` (remove old deployments, see `max-age`), or `remove-ingress` (remove the shared load-balancer `ingress`, see `force`).',
    },
    {
        name: 'docker-host',
        secret: true,
        description: 'Docker Engine API endpoint: `tcp://host:2376`, `host:2376` (as a VCH env file writes it) or `unix:///path`. Empty: `DOCKER_HOST` from the environment, else the local socket.',
    },
    { name: 'tls-ca-cert', secret: true, description: 'PEM contents of the CA that signed the Docker host certificate.' },
    { name: 'tls-cert', secret: true, description: 'PEM contents of the client certificate.' },
    { name: 'tls-key', secret: true, description: 'PEM contents of the client private key.' },
    {
        name: 'tls-verify',
        default: 'true',
        description: 'Verify the Docker host certificate. `false` is for a VCH created with `--no-tlsverify`.',
    },
    { name: 'image', description: 'Image of the service instances (required for deploy).' },
    { name: 'instances', default: '3', description: 'Number of service instances behind the load-balancer.' },
    { name: 'instance-port', default: '80', description: 'Port the service listens on inside each instance.' },
    { name: 'lb-port', default: '80', description: 'Port the load-balancer serves on.' },
    {
        name: 'instance-prefix',
        description: 'Names the deployment: instances are `<prefix>-<generation>-<n>`, their network `<prefix>-net`. Use one per preview environment, e.g. `pr-42`. Empty: `web`. For `prune` (required): which deployments to consider, `*` matching any characters, e.g. `pr-*`.',
    },
    { name: 'lb-name', default: 'lb', description: 'Name of the load-balancer container.' },
    {
        name: 'ingress',
        description: "Name of a load-balancer container shared by the deployments on the Docker host, which serves each of them under its own `hostname`: one address (and one wildcard DNS record) for every preview. Same rules as `lb-name`, which is not used with it (leave it at its default). The first deploy that names the ingress creates it from that deploy's `lb-port`, `external-network`, `haproxy-image`, `lb-certificate` and `http-redirect-port`; a later deploy that gives other values for these is refused, never changing the ingress under the other previews. Needs `hostname` and protocol `http`; not available with `basic-auth` yet. Empty: a load-balancer of the deployment's own, named by `lb-name`.",
    },
    {
        name: 'hostname',
        description: "With `ingress`: the host name this deployment is served under, e.g. `pr-42.preview.example.com`; the ingress sends it the requests whose `Host` header is that name, which has to resolve to the ingress's address (e.g. by a wildcard DNS record). A lower-case DNS name of at least two labels, each 1 to 63 of `a-z`, `0-9` and `-`, not starting or ending with `-`; up to 253 characters. Required with `ingress`, refused without it.",
    },
    {
        name: 'owner',
        description: "Who the deployment belongs to, recorded on every object: `owner/repo` or a local name of letters, digits, `_` and `-`. Deploy and teardown refuse another owner's deployment of the same name; prune considers only this owner's. Empty: `GITHUB_REPOSITORY` (the workflow's repository), else `local`.",
    },
    {
        name: 'external-network',
        default: 'routable',
        description: 'Routable (container) network the load-balancer joins; its address there is the service address. Empty: publish `lb-port` on the Docker host instead.',
    },
    { name: 'haproxy-image', default: DEFAULT_HAPROXY_IMAGE, description: 'HAProxy image of the load-balancer.' },
    { name: 'protocol', default: 'http', description: 'Load-balance `http` requests or plain `tcp` connections.' },
    {
        name: 'lb-certificate',
        secret: true,
        description: 'PEM contents of the certificate chain and its private key in one (as HAProxy `crt` takes them): the load-balancer serves HTTPS on `lb-port` with it. Needs protocol `http`. Kept only inside the load-balancer container, readable by the user HAProxy runs as.',
    },
    {
        name: 'http-redirect-port',
        description: 'With `lb-certificate`: a port where the load-balancer answers plain HTTP with a permanent redirect to the same URL over HTTPS on `lb-port`, e.g. `80` beside `lb-port` 443. Published or opened like `lb-port`. Empty: none.',
    },
    {
        name: 'basic-auth',
        secret: true,
        description: 'Credentials, one `user:password` per line, from a secret: every request to the service needs one of them, else it gets 401 and the browser asks for them. Needs protocol `http`. The load-balancer keeps only a salted SHA-256 of each; use long random passwords. Health checks and readiness are not affected.',
    },
    {
        name: 'allow-cidrs',
        description: 'Networks allowed to reach the service, as the load-balancer sees the client address: IPv4 or IPv6 CIDRs (`203.0.113.0/24`, `2001:db8::/32`) or single addresses, separated by commas, spaces or newlines. Other clients get 403 (`tcp`: their connection is closed). Empty: everyone.',
    },
    {
        name: 'health-check-path',
        description: 'HTTP path the load-balancer requests to check each instance (expects 2xx/3xx). Empty: a TCP connect check.',
    },
    {
        name: 'response-timeout',
        default: '60s',
        description: 'How long an instance may take to answer a request, e.g. `90s` or `5m`: one that takes longer gets 504. Also how long a streamed answer (server-sent events) may pause.',
    },
    {
        name: 'tunnel-timeout',
        default: '1h',
        description: 'How long a websocket (or any upgraded connection, or a `tcp` connection) may stay idle before the load-balancer closes it, e.g. `30m` or `2h`.',
    },
    {
        name: 'drain-timeout',
        default: '30s',
        description: 'After a reload (a deploy that changes the configuration), how long the previous HAProxy worker may finish the connections it has (long requests, websockets, event streams) before it closes them, e.g. `2m`. A deploy that retires instances waits for that worker at most this long.',
    },
    {
        name: 'env',
        description: 'Environment variables of every instance, one `KEY=VALUE` per line (blank lines and `#` comments ignored). The value is everything after the first `=`, as written: no shell, no interpolation.',
    },
    {
        name: 'secret-env',
        secret: true,
        description: 'Like `env`, for secret values: each is masked in the log and shown nowhere the action writes. Anyone with Docker API access to the host can still read them from the container configuration.',
    },
    {
        name: 'instance-command',
        description: 'Command of each instance instead of the image\'s: a JSON array of strings (`["gunicorn","app:app"]`) or one line split on whitespace, never run through a shell. Empty: the image\'s command.',
    },
    {
        name: 'instance-memory',
        description: "Memory of each instance, e.g. `512m` or `2g`: a limit on a Docker or Podman host, the containerVM's memory on a VCH (rounded up to 128 MiB, at least 512 MiB). Empty: the host's default (a VCH: 2048 MiB).",
    },
    {
        name: 'instance-cpus',
        description: "CPUs of each instance, e.g. `1`, `0.5` or `2`: a limit on a Docker or Podman host, the containerVM's vCPU count on a VCH (a fraction rounds up to a whole vCPU). Empty: the host's default (a VCH: 2 vCPUs).",
    },
    {
        name: 'release-command',
        description: "Run once for each new generation of the instances, before any traffic moves to it (e.g. a database migration): a JSON array of strings or one line split on whitespace, never run through a shell, in a one-off container of `image` with the instances' `env`, `secret-env` and network. A non-zero exit fails the deploy and the previous generation keeps serving. Empty: none.",
    },
    {
        name: 'services',
        description: 'Companion containers of the deployment, such as a database or a cache, as a YAML list: each with `name` (the host name the instances reach it by), `image`, and optionally `env` and `secret-env` (maps of variables; secret-env values are masked), `command`, `port` (a TCP port the deploy waits for), `volume` (a path inside the container whose data lasts as long as the deployment), `memory` and `cpus`. They start before the instances and are kept, data and all, across redeploys; teardown removes them. Empty: none.',
    },
    {
        name: 'pull',
        default: 'always',
        description: 'When to pull `image` and `haproxy-image`: `always` (a copy on the host serves, with a warning, when the registry cannot be reached), `missing` (only when the host lacks it), `never` (fail when the host lacks it).',
    },
    { name: 'registry-username', description: 'User name for pulling private images.' },
    { name: 'registry-password', secret: true, description: 'Password or token for pulling private images.' },
    {
        name: 'wait-timeout',
        default: '300',
        description: "Seconds a deploy may take once it holds the deployment (the companion services accepting connections, the release command, every instance healthy behind the load-balancer), and the longest it waits for another run's deploy, teardown or prune of the same deployment to finish.",
    },
    {
        name: 'github-token',
        secret: true,
        description: "Token for the GitHub API, e.g. the workflow's `github.token` with `pull-requests: write` and `deployments: write`: comments on the pull request with the URL and state of its environment (one comment, updated in place), records each deploy as a GitHub deployment (see `environment`), and lets `prune` remove the deployments of closed pull requests. Empty: no comments, no GitHub deployments.",
    },
    {
        name: 'environment',
        default: 'preview',
        description: 'With `github-token` (and `deployments: write`): the GitHub environment each deploy is recorded in as a GitHub deployment of the commit (in progress, then success with the URL or failure; inactive after teardown). One transient environment shared by every pull request leaves none to delete by hand; a per-pull-request name such as `pr-42` works too.',
    },
    {
        name: 'force',
        description: 'For `remove-ingress`: `true` removes the ingress even while deployments are routed through it. They serve nothing until a deploy that names the ingress makes it again, with every route. Without it, `remove-ingress` refuses while any deployment is routed.',
    },
    {
        name: 'max-age',
        description: 'For `prune`: remove the deployments whose newest container or network was created longer ago than this, e.g. `90m`, `72h`, `3d`.',
    },
];
// URL-safe base64 with padding, as the Engine decodes it.
function registryAuthHeader(username, password) {
    return Buffer.from(JSON.stringify({ username, password })).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}
// Container and network names end up in DNS (the load-balancer resolves instances by name) and
// in the HAProxy config, so they are held to the strictest of Docker's, DNS's and HAProxy's rules.
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
const NAME_MAX = 40;
const NETWORK_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const IMAGE_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const IMAGE_PATTERN = new RegExp(`^(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?${IMAGE_COMPONENT}(?:/${IMAGE_COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`);
const PATH_PATTERN = /^\/[A-Za-z0-9._~/%?&=+-]*$/;
// GitHub's rules: an account of letters, digits and '-' (up to 39), a repository of letters,
// digits, '.', '_' and '-' (up to 100; not '.' or '..').
const REPOSITORY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9-]{0,38}\/(?!\.\.?$)[A-Za-z0-9._-]{1,100}$/;
const DEPLOYMENT_PATTERN = /^[A-Za-z0-9*][A-Za-z0-9_*-]*$/;
const DURATION_PATTERN = /^([1-9][0-9]*)([smhd])$/;
const DURATION_UNITS = { s: 1, m: 60, h: 3600, d: 86400 };
// HAProxy takes a timeout up to 2^31 - 1 ms (24 days); far shorter limits catch a wrong unit.
const DURATION_LIMITS = {
    'max-age': 365 * 86400,
    'response-timeout': 86400,
    'tunnel-timeout': 7 * 86400,
    'drain-timeout': 3600,
};
const ENV_KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ENV_KEY_MAX = 256;
// Linux's MAX_ARG_STRLEN for one KEY=VALUE; and a total well below what execve takes (ARG_MAX).
const ENV_LINE_MAX = 131072;
const ENV_TOTAL_MAX = 1048576;
const COMMAND_MAX = 131072;
const MEMORY_PATTERN = /^([0-9]+(?:\.[0-9]+)?)([kmgKMG])$/;
const MEMORY_UNITS = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
const MEMORY_MIN = 6 * 1024 ** 2;
const MEMORY_MAX = 1024 ** 4;
const CPUS_PATTERN = /^(?:0|[1-9][0-9]*)(?:\.[0-9]{1,2})?$/;
const CPUS_MAX = 256;
// GitHub's limit; the name goes nowhere but the GitHub API.
const ENVIRONMENT_MAX = 255;
// RFC 1123 host names, lower case only: the ingress lower-cases the Host header before it
// compares, so a name with an upper-case letter would never match.
const HOSTNAME_MAX = 253;
const HOSTNAME_LABEL_MAX = 63;
const HOSTNAME_LABEL_PATTERN = /^[a-z0-9-]+$/;
function defaultOf(name) {
    return INPUT_SPECS.find((spec) => spec.name === name)?.default ?? '';
}
function readInputs(read, env = process.env) {
    const raw = (name) => read(name)?.trim();
    const get = (name) => raw(name) || defaultOf(name);
    const command = oneOf(get('command'), COMMANDS, 'command');
    const instancePrefix = command === 'prune' ? deploymentPattern(raw('instance-prefix') ?? '') : inputs_name(raw('instance-prefix') || DEFAULT_DEPLOYMENT, 'instance-prefix');
    const tls = {
        ca: raw('tls-ca-cert') || undefined,
        cert: raw('tls-cert') || undefined,
        key: raw('tls-key') || undefined,
        verify: inputs_boolean(get('tls-verify'), 'tls-verify'),
    };
    const dockerHost = raw('docker-host') ?? '';
    const password = read('registry-password') ?? '';
    const githubToken = raw('github-token') ?? '';
    const inputs = {
        command,
        dockerHost,
        tls,
        instancePrefix,
        owner: owner(raw('owner'), env.GITHUB_REPOSITORY?.trim()),
        waitTimeoutSeconds: integer(get('wait-timeout'), 'wait-timeout', 1, 3600),
        haproxyImage: matching(get('haproxy-image'), IMAGE_PATTERN, 'haproxy-image', "an image reference such as 'haproxy:3.2'"),
        pull: oneOf(get('pull'), PULL_POLICIES, 'pull'),
        githubToken,
        environment: environmentName(get('environment')),
    };
    if (command === 'deploy')
        inputs.deploy = readDeploySettings(read, raw, get, instancePrefix, password, inputs);
    if (command === 'prune')
        inputs.prune = readPruneSettings(raw('max-age'), instancePrefix, inputs.owner, githubToken);
    if (command === 'remove-ingress') {
        const ingress = raw('ingress');
        if (!ingress)
            throw new InputError("Command 'remove-ingress' needs 'ingress': the name of the shared load-balancer to remove.");
        inputs.removeIngress = { name: loadBalancerName(ingress, 'ingress', instancePrefix, 'previews'), force: inputs_boolean(raw('force') || 'false', 'force') };
    }
    return inputs;
}
function readPruneSettings(maxAge, deployments, owner, githubToken) {
    if (!maxAge && !githubToken)
        throw new InputError("Prune needs 'max-age' (e.g. '72h': remove deployments older than that), 'github-token' (remove deployments of closed pull requests), or both.");
    return maxAge ? { deployments, owner, maxAgeSeconds: duration(maxAge, 'max-age', "'90m', '72h' or '3d'") } : { deployments, owner };
}
function readDeploySettings(read, raw, get, instancePrefix, password, common) {
    const username = raw('registry-username') ?? '';
    const image = get('image');
    if (!image)
        throw new InputError("Input 'image' is required for deploy. Give an image reference such as 'nginx:1.27'.");
    if (!!username !== !!password)
        throw new InputError("Inputs 'registry-username' and 'registry-password' go together: give both or neither.");
    const protocol = oneOf(get('protocol'), PROTOCOLS, 'protocol');
    const healthCheckPath = get('health-check-path');
    if (healthCheckPath && protocol === 'tcp')
        throw new InputError("Input 'health-check-path' needs protocol 'http'; with 'tcp' the instances get TCP connect checks.");
    const ingress = ingressSettings(raw, protocol, instancePrefix);
    const settings = {
        image: matching(image, IMAGE_PATTERN, 'image', "an image reference such as 'nginx:1.27' or 'registry.example.com:5000/team/app@sha256:<64 hex>'"),
        instances: integer(get('instances'), 'instances', 1, 100),
        instancePort: integer(get('instance-port'), 'instance-port', 1, 65535),
        lbPort: integer(get('lb-port'), 'lb-port', 1, 65535),
        instancePrefix,
        owner: common.owner,
        lbName: loadBalancerName(get('lb-name'), 'lb-name', instancePrefix, `${instancePrefix}-lb`),
        externalNetwork: externalNetwork(raw('external-network') ?? defaultOf('external-network')),
        haproxyImage: common.haproxyImage,
        protocol,
        healthCheckPath: healthCheckPath
            ? matching(healthCheckPath, PATH_PATTERN, 'health-check-path', "a URL path such as '/healthz' (letters, digits and . _ ~ / % ? & = + -)")
            : '',
        waitTimeoutSeconds: common.waitTimeoutSeconds,
        instanceConfig: readInstanceConfig(read, raw),
        pull: common.pull,
        timeouts: {
            response: duration(get('response-timeout'), 'response-timeout', "'60s', '90s' or '5m'"),
            tunnel: duration(get('tunnel-timeout'), 'tunnel-timeout', "'30m', '1h' or '2h'"),
            drain: duration(get('drain-timeout'), 'drain-timeout', "'30s', '2m' or '10m'"),
        },
        services: services(read('services') ?? '', instancePrefix),
    };
    if (ingress)
        settings.ingress = ingress;
    // The instances could not tell the two apart by name: both resolve where they are (an ingress on
    // its network, which they join).
    const [lbInput, lb] = ingress ? ['ingress', ingress.name] : ['lb-name', settings.lbName];
    const shadowing = settings.services.find((s) => s.name === lb);
    if (shadowing)
        throw new InputError(`Invalid services: service '${shadowing.name}' has the name of the load-balancer (${lbInput}), and both names resolve on the instances' networks. Rename the service or choose another ${lbInput}.`);
    // The deploy waits for a service's port through HAProxy's own check, and a shared ingress is on
    // no deployment's network (src/ingress/DESIGN.md).
    const waited = ingress && settings.services.find((s) => s.port !== undefined);
    if (waited)
        throw new InputError(`Invalid services: service '${waited.name}' has a port, which the deploy cannot wait for with 'ingress' yet (the shared ingress is on no deployment's network). Leave out its port (the instances must then retry until it accepts connections), or leave ingress empty.`);
    const releaseCommand = raw('release-command');
    if (releaseCommand)
        settings.releaseCommand = commandArgs(releaseCommand, 'Invalid release-command');
    const certificate = raw('lb-certificate');
    if (certificate) {
        if (protocol === 'tcp')
            throw new InputError("Input 'lb-certificate' needs protocol 'http': with 'tcp' the load-balancer passes connections through and cannot serve HTTPS.");
        settings.certificate = lbCertificate(certificate);
    }
    if (settings.externalNetwork && settings.lbPort === STATS_PORT)
        throw new InputError(`Invalid lb-port ${STATS_PORT}: on an external network the load-balancer's stats page has that port. Choose another lb-port.`);
    const redirectPort = raw('http-redirect-port');
    if (redirectPort)
        settings.httpRedirectPort = httpRedirectPort(redirectPort, settings);
    if (username)
        settings.registryAuth = { username, password, header: registryAuthHeader(username, password) };
    // Not trimmed as a whole: a password's spaces are part of it, on the first and last line too.
    const basicAuth = read('basic-auth');
    if (basicAuth?.trim()) {
        if (protocol === 'tcp')
            throw new InputError("Input 'basic-auth' needs protocol 'http': with 'tcp' the load-balancer passes connections through and sees no request to ask credentials of. Use allow-cidrs to limit who connects.");
        settings.basicAuth = inputs_basicAuthLines(basicAuth);
    }
    const allowCidrs = raw('allow-cidrs');
    if (allowCidrs)
        settings.allowCidrs = cidrList(allowCidrs);
    return settings;
}
// Undefined when ingress is empty. Refuses what a shared ingress cannot do for one deployment.
function ingressSettings(raw, protocol, instancePrefix) {
    const ingress = raw('ingress');
    const hostname = raw('hostname');
    if (!ingress) {
        if (hostname)
            throw new InputError("Input 'hostname' needs 'ingress': it is the name a shared ingress serves this deployment under. Give ingress, or leave hostname empty.");
        return undefined;
    }
    const name = loadBalancerName(ingress, 'ingress', instancePrefix, 'previews');
    if (name === instancePrefix)
        throw new InputError(`Invalid ingress '${name}': it is the deployment's name (instance-prefix), and the ingress's network and lock would be the deployment's own (${networkName(name)}, ${lockName(name)}). Choose another ingress, e.g. 'previews'.`);
    if (!hostname)
        throw new InputError("Input 'ingress' needs 'hostname': the ingress tells the deployments apart by the host name a request is for. Give hostname, e.g. 'pr-42.preview.example.com', or leave ingress empty.");
    const route = { name, hostname: dnsHostname(hostname) };
    if (protocol !== 'http')
        throw new InputError(`Input 'ingress' needs protocol 'http': the ingress routes each request by its Host header, and with '${protocol}' it sees no request. Use protocol http, or leave ingress empty.`);
    const lbName = raw('lb-name');
    if (lbName && lbName !== defaultOf('lb-name'))
        throw new InputError(`Input 'lb-name' is not used with 'ingress': it names a load-balancer of the deployment's own, and with an ingress there is none. Leave lb-name empty (or at its default '${defaultOf('lb-name')}'), or leave ingress empty.`);
    if (raw('basic-auth'))
        throw new InputError("Input 'basic-auth' is not available with 'ingress' yet: the ingress is configured from records each deployment keeps on the Docker host, so the password digests would have to be stored there, outside the load-balancer, where nothing secret is kept. Leave basic-auth empty (allow-cidrs limits who connects), or leave ingress empty.");
    return route;
}
// The same rules for values read back from the Docker host (a route record, src/ingress/record.ts):
// anybody who reaches the host can write one, and its values go into HAProxy's configuration.
const RECORD_CHECKS = {
    deployment: (value) => NAME_PATTERN.test(value) && value.length <= NAME_MAX,
    hostname: (value) => passes(() => dnsHostname(value)),
    healthCheckPath: (value) => value === '' || PATH_PATTERN.test(value),
    // An instance's container name (names.ts), which HAProxy also uses as the server's name.
    serverName: (value) => NAME_PATTERN.test(value),
    cidr: (value) => !/[\s,]/.test(value) && passes(() => cidrList(value)),
};
function passes(check) {
    try {
        check();
        return true;
    }
    catch {
        return false;
    }
}
// What is wrong is said precisely: a host name's rules are easy to miss by one character.
function dnsHostname(value) {
    const refuse = (problem) => new InputError(`Invalid hostname '${show(value)}': ${problem}. Expected a lower-case DNS name of at least two labels, such as 'pr-42.preview.example.com': up to ${HOSTNAME_MAX} characters, each label 1 to ${HOSTNAME_LABEL_MAX} of a-z, 0-9 and '-', not starting or ending with '-'.`);
    if (value.length > HOSTNAME_MAX)
        throw refuse(`${value.length} characters, more than ${HOSTNAME_MAX}`);
    if (value.endsWith('.'))
        throw refuse('it ends with a dot; leave the dot out');
    if (/[A-Z]/.test(value))
        throw refuse(`it has upper-case letters; write it as '${show(value.toLowerCase())}'`);
    const labels = value.split('.');
    if (labels.length < 2)
        throw refuse('it is a single label; give the full name');
    labels.forEach((label, i) => {
        const at = `label ${i + 1}`;
        if (label === '')
            throw refuse(`${at} is empty (two dots in a row, or a dot at the start)`);
        if (label.length > HOSTNAME_LABEL_MAX)
            throw refuse(`${at} has ${label.length} characters, more than ${HOSTNAME_LABEL_MAX}`);
        if (!HOSTNAME_LABEL_PATTERN.test(label))
            throw refuse(`${at} has a character other than a-z, 0-9 and '-'`);
        if (label.startsWith('-') || label.endsWith('-'))
            throw refuse(`${at} starts or ends with '-'`);
    });
    return value;
}
function readInstanceConfig(read, raw) {
    // Not trimmed as a whole: a value's spaces are part of it, on the first and last line too.
    const env = envLines(read('env') ?? '', 'env');
    const secretEnv = envLines(read('secret-env') ?? '', 'secret-env');
    const keys = new Map(env.map((v) => [v.key, 'env']));
    for (const { key } of secretEnv)
        if (keys.has(key))
            throw new InputError(`Variable ${key} is in both env and secret-env. Give it in one of them.`);
    const size = [...env, ...secretEnv].reduce((total, v) => total + v.key.length + v.value.length + 2, 0);
    if (size > ENV_TOTAL_MAX)
        throw new InputError(`Inputs env and secret-env hold ${size} bytes together; at most ${ENV_TOTAL_MAX} fit a container's environment. Pass large data another way (a file in the image, a volume).`);
    const config = { env, secretEnv };
    const command = raw('instance-command');
    if (command)
        config.command = commandArgs(command, 'Invalid instance-command');
    const memory = raw('instance-memory');
    if (memory)
        config.memoryBytes = memoryBytes(memory);
    const cpus = raw('instance-cpus');
    if (cpus)
        config.cpus = cpuCount(cpus);
    return config;
}
// One KEY=VALUE per line. Errors give the line number and never the line: in secret-env any part
// of it may be a secret, and in env a value may be one by mistake.
function envLines(text, input) {
    const vars = [];
    const seen = new Map();
    text.split(/\r?\n/).forEach((line, i) => {
        const at = `Invalid ${input}, line ${i + 1}:`;
        const entry = line.replace(/^[ \t]+/, '');
        if (entry.trim() === '' || entry.startsWith('#'))
            return;
        const equals = entry.indexOf('=');
        if (equals < 0)
            throw new InputError(`${at} no '='. Expected KEY=VALUE (the line is not shown here).`);
        const variable = envVar(entry.slice(0, equals), entry.slice(equals + 1), at, 'KEY=VALUE', '(the line is not shown here)');
        const earlier = seen.get(variable.key);
        if (earlier !== undefined)
            throw new InputError(`${at} ${variable.key} is already set on line ${earlier}. Give each variable once.`);
        seen.set(variable.key, i + 1);
        vars.push(variable);
    });
    return vars;
}
// One variable checked as a container's environment takes it; the key is shown only once valid.
function envVar(key, value, at, form, notShown) {
    if (!ENV_KEY_PATTERN.test(key) || key.length > ENV_KEY_MAX)
        throw new InputError(`${at} the key is not a variable name. Expected ${form} with KEY of letters, digits and '_', not starting with a digit, up to ${ENV_KEY_MAX} characters ${notShown}.`);
    if (value.includes('\0'))
        throw new InputError(`${at} the value of ${key} holds a NUL character, which no environment variable can hold.`);
    if (key.length + value.length + 1 > ENV_LINE_MAX)
        throw new InputError(`${at} ${key} is longer than ${ENV_LINE_MAX} bytes, Linux's limit for one environment variable.`);
    return { key, value };
}
const SERVICES_MAX = 20;
const SERVICES_TEXT_MAX = 1024 ** 2;
const SERVICE_NAME_PATTERN = /^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const VOLUME_PATH_PATTERN = /^\/[A-Za-z0-9._@+-]+(?:\/[A-Za-z0-9._@+-]+)*\/?$/;
const SERVICE_FIELDS = ['name', 'image', 'env', 'secret-env', 'command', 'port', 'volume', 'memory', 'cpus'];
// The services input: a YAML list of companion containers. Every error names the service (or its
// place in the list) and the field, never a value: secret-env holds secrets, and any other field
// may by mistake.
function services(text, instancePrefix) {
    if (text.trim() === '')
        return [];
    if (text.length > SERVICES_TEXT_MAX)
        throw new InputError(`Invalid services: longer than ${SERVICES_TEXT_MAX} characters.`);
    const document = (0,dist/* parseDocument */.Tp)(text, { uniqueKeys: true });
    const [problem] = [...document.errors, ...document.warnings];
    // The parser's own message quotes the text around the problem: only its place and kind are said.
    if (problem)
        throw new InputError(`Invalid services: not valid YAML (${problem.code}${problem.linePos ? ` at line ${problem.linePos[0].line}, column ${problem.linePos[0].col}` : ''}). Expected a list of services such as '- name: db' / '  image: postgres:16'.`);
    const list = document.toJS({ maxAliasCount: 10 });
    if (!Array.isArray(list) || list.length === 0)
        throw new InputError("Invalid services: expected a YAML list of services, each starting with '- name: ...'.");
    if (list.length > SERVICES_MAX)
        throw new InputError(`Invalid services: ${list.length} services, at most ${SERVICES_MAX}.`);
    const specs = list.map((item, i) => service(item, i + 1, instancePrefix));
    specs.forEach((spec, i) => {
        if (specs.findIndex((other) => other.name === spec.name) !== i)
            throw new InputError(`Invalid services: the name '${spec.name}' is given twice. Give each service its own name.`);
    });
    return specs;
}
function service(item, place, instancePrefix) {
    if (!isRecord(item))
        throw new InputError(`Invalid services, item ${place}: not a map of fields. Expected fields such as 'name: db' and 'image: postgres:16'.`);
    const rawName = item.name;
    if (typeof rawName !== 'string' || !SERVICE_NAME_PATTERN.test(rawName) || rawName.startsWith(`${instancePrefix}-`) || rawName === lockName(instancePrefix))
        throw new InputError(`Invalid services, item ${place}, field 'name': expected the host name the instances reach the service by, a DNS label of 1 to 63 lower-case letters, digits and '-' starting with a letter, such as 'db' (not starting with '${instancePrefix}-', which the deployment's own containers use).`);
    const at = (field) => `Invalid services: service '${rawName}', field '${field}'`;
    const unknown = Object.keys(item).find((field) => !SERVICE_FIELDS.includes(field));
    if (unknown !== undefined)
        throw new InputError(`Invalid services: service '${rawName}' has a field that is not known${/^[a-z-]{1,20}$/.test(unknown) ? ` ('${unknown}')` : ''}. Known fields: ${SERVICE_FIELDS.join(', ')}.`);
    const image = item.image;
    if (typeof image !== 'string' || !IMAGE_PATTERN.test(image))
        throw new InputError(`${at('image')}: expected an image reference such as 'postgres:16' or 'registry.example.com/team/redis:7'.`);
    const spec = { name: rawName, image, env: envMap(item.env, at('env')), secretEnv: envMap(item['secret-env'], at('secret-env')) };
    for (const { key } of spec.secretEnv)
        if (spec.env.some((v) => v.key === key))
            throw new InputError(`${at('secret-env')}: variable ${key} is in env too. Give it in one of them.`);
    const size = [...spec.env, ...spec.secretEnv].reduce((total, v) => total + v.key.length + v.value.length + 2, 0);
    if (size > ENV_TOTAL_MAX)
        throw new InputError(`Invalid services: service '${rawName}': env and secret-env hold ${size} bytes together; at most ${ENV_TOTAL_MAX} fit a container's environment.`);
    const { command, port, volume, memory, cpus } = item;
    if (command !== undefined && command !== null)
        spec.command =
            typeof command === 'string'
                ? commandArgs(command.trim(), at('command'))
                : checkedArgs(command, at('command'), `Expected a list of strings such as '["redis-server","--appendonly","yes"]', or one line of words`);
    if (port !== undefined && port !== null) {
        if (!Number.isInteger(port) || port < 1 || port > 65535)
            throw new InputError(`${at('port')}: expected the TCP port the service listens on, a whole number from 1 to 65535, such as 5432.`);
        spec.port = port;
    }
    if (volume !== undefined && volume !== null) {
        if (typeof volume !== 'string' || !VOLUME_PATH_PATTERN.test(volume) || volume.split('/').some((part) => part === '.' || part === '..'))
            throw new InputError(`${at('volume')}: expected an absolute path inside the container, such as '/var/lib/postgresql/data' (letters, digits and . _ @ + - between the slashes; not '/' alone, no '.' or '..').`);
        spec.volume = volume.replace(/\/$/, '');
    }
    if (memory !== undefined && memory !== null)
        spec.memoryBytes = memoryBytes(String(memory), at('memory'));
    if (cpus !== undefined && cpus !== null)
        spec.cpus = cpuCount(String(cpus), at('cpus'));
    return spec;
}
// A map of variable names to values; numbers and booleans are taken as YAML wrote them.
function envMap(value, at) {
    if (value === undefined || value === null)
        return [];
    if (!isRecord(value))
        throw new InputError(`${at}: expected a map of variables, such as 'POSTGRES_DB: app' on its own line (values are not shown here).`);
    return Object.entries(value).map(([key, v]) => {
        if (!['string', 'number', 'boolean'].includes(typeof v))
            throw new InputError(`${at}: the value of a variable is not a string, number or boolean (values are not shown here).`);
        return envVar(key, String(v), `${at}:`, 'KEY: value', '(values are not shown here)');
    });
}
// Every services secret-env value, to be masked before the input is checked (main.ts): read as
// leniently as the YAML allows, so that a service refused for another field has its secrets masked.
function serviceSecretValues(text) {
    if (text.trim() === '' || text.length > SERVICES_TEXT_MAX)
        return [];
    let list;
    try {
        list = (0,dist/* parseDocument */.Tp)(text, { prettyErrors: false }).toJS({ maxAliasCount: 10 });
    }
    catch {
        return [];
    }
    if (!Array.isArray(list))
        return [];
    return list.flatMap((item) => {
        const secrets = isRecord(item) ? item['secret-env'] : undefined;
        return isRecord(secrets)
            ? Object.values(secrets)
                .filter((v) => ['string', 'number'].includes(typeof v))
                .map(String)
            : [];
    });
}
function isRecord(value) {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
}
// A program and its arguments: a JSON array of strings, or one line split on spaces. `at` begins
// each error (which input, or which service's field).
function commandArgs(value, at) {
    const expected = `Expected a JSON array of strings such as '["gunicorn","app:app"]', or one line of words separated by spaces (never run through a shell)`;
    let args;
    if (value.startsWith('[')) {
        try {
            args = JSON.parse(value);
        }
        catch {
            throw new InputError(`${at}: it starts with '[' but is not valid JSON. ${expected}.`);
        }
    }
    else {
        if (/[\r\n]/.test(value))
            throw new InputError(`${at}: it has more than one line. ${expected}.`);
        args = value.split(/[ \t]+/);
    }
    if (value.length > COMMAND_MAX)
        throw new InputError(`${at}: longer than ${COMMAND_MAX} characters.`);
    return checkedArgs(args, at, expected);
}
function checkedArgs(args, at, expected) {
    if (!Array.isArray(args) || args.length === 0 || !args.every((a) => typeof a === 'string'))
        throw new InputError(`${at}: the JSON is not a non-empty array of strings. ${expected}.`);
    if (args[0] === '')
        throw new InputError(`${at}: the program name is empty. ${expected}.`);
    if (args.some((a) => a.includes('\0')))
        throw new InputError(`${at}: it holds a NUL character, which no program argument can hold.`);
    return args;
}
function memoryBytes(value, at = `Invalid instance-memory '${show(value)}'`) {
    const match = MEMORY_PATTERN.exec(value);
    const bytes = match ? Math.ceil(Number(match[1]) * MEMORY_UNITS[match[2].toLowerCase()]) : NaN;
    if (!(bytes >= MEMORY_MIN && bytes <= MEMORY_MAX))
        throw new InputError(`${at}. Expected a size with the unit k, m or g, such as '512m' or '2g', from 6m (the Docker Engine's minimum) to 1024g.`);
    return bytes;
}
function cpuCount(value, at = `Invalid instance-cpus '${show(value)}'`) {
    const cpus = Number(value);
    if (!CPUS_PATTERN.test(value) || !(cpus >= 0.01 && cpus <= CPUS_MAX))
        throw new InputError(`${at}. Expected a number of CPUs from 0.01 to ${CPUS_MAX} with at most two decimals, such as '1', '0.5' or '2'.`);
    return cpus;
}
// Everything HAProxy needs and finds wrong at start, found here instead: one private key, the
// certificate it belongs to first. Nothing of the value is quoted back: it is a secret.
function lbCertificate(value) {
    const refuse = (problem) => new InputError(`Invalid lb-certificate: ${problem}. Expected the PEM certificate chain (the server's certificate first) and its unencrypted private key in one value.`);
    if (value.includes('\0'))
        throw refuse('it holds a NUL character');
    const [leafPem, ...chain] = value.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    const keys = value.match(/-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/g) ?? [];
    if (!leafPem)
        throw refuse('no PEM certificate (-----BEGIN CERTIFICATE-----) found');
    const [keyPem] = keys;
    if (!keyPem || keys.length > 1)
        throw refuse(keyPem ? `${keys.length} private keys found, one expected` : 'no PEM private key (-----BEGIN PRIVATE KEY-----) found');
    if (keyPem.startsWith('-----BEGIN ENCRYPTED'))
        throw refuse('the private key is encrypted, and HAProxy cannot ask for its passphrase');
    const parsed = (parse, problem) => {
        try {
            return parse();
        }
        catch {
            throw refuse(problem);
        }
    };
    const leaf = parsed(() => new external_node_crypto_.X509Certificate(leafPem), 'the first certificate cannot be parsed');
    chain.forEach((pem, i) => parsed(() => new external_node_crypto_.X509Certificate(pem), `certificate ${i + 2} of the chain cannot be parsed`));
    const key = parsed(() => (0,external_node_crypto_.createPrivateKey)(keyPem), 'the private key cannot be parsed');
    if (!leaf.checkPrivateKey(key))
        throw refuse('the private key does not belong to the first certificate');
    return { pem: `${value.trim()}\n`, fingerprint256: leaf.fingerprint256 };
}
// Printable ASCII only: browsers encode other characters of Basic credentials differently (UTF-8
// or Latin-1), so such a password would work in one and not in another.
const USER_PATTERN = /^[\x21-\x39\x3b-\x7e]{1,128}$/;
const PASSWORD_PATTERN = /^[\x20-\x7e]{8,256}$/;
const BASIC_AUTH_MAX = 1000;
// One user:password per line, the user up to the first ':'. Errors give the line number and never
// the line: all of it is a secret.
function inputs_basicAuthLines(text) {
    const credentials = [];
    const seen = new Map();
    text.split(/\r?\n/).forEach((line, i) => {
        if (line.trim() === '')
            return;
        const at = `Invalid basic-auth, line ${i + 1}:`;
        const colon = line.indexOf(':');
        if (colon < 0)
            throw new InputError(`${at} no ':'. Expected user:password (the line is not shown here).`);
        const user = line.slice(0, colon);
        const password = line.slice(colon + 1);
        if (!USER_PATTERN.test(user))
            throw new InputError(`${at} the user is not 1 to 128 printable ASCII characters without spaces (the line is not shown here).`);
        if (!PASSWORD_PATTERN.test(password))
            throw new InputError(`${at} the password is not 8 to 256 printable ASCII characters (spaces allowed). Use a long random one (the line is not shown here).`);
        const earlier = seen.get(user);
        if (earlier !== undefined)
            throw new InputError(`${at} the user is already given on line ${earlier}. Give each user once.`);
        seen.set(user, i + 1);
        credentials.push({ user, password });
    });
    if (credentials.length > BASIC_AUTH_MAX)
        throw new InputError(`Invalid basic-auth: ${credentials.length} users, at most ${BASIC_AUTH_MAX}.`);
    return credentials;
}
const CIDRS_MAX = 1000;
// Each entry an IPv4 or IPv6 address, optionally with a prefix length in range for its family.
// Node parses the address (isIP) and checks the prefix (BlockList), so that HAProxy gets only
// what both agree is a network.
function cidrList(text) {
    const entries = text.split(/[\s,]+/).filter((entry) => entry !== '');
    // Separators alone would render a rule that refers to no network.
    if (entries.length === 0)
        throw new InputError("Invalid allow-cidrs: it names no network. Give one or more, such as '203.0.113.0/24', or leave allow-cidrs empty to allow every source.");
    if (entries.length > CIDRS_MAX)
        throw new InputError(`Invalid allow-cidrs: ${entries.length} entries, at most ${CIDRS_MAX}.`);
    return entries.map((entry, i) => {
        const [address, prefix, extra] = entry.split('/');
        const family = (0,external_node_net_.isIP)(address);
        const bits = family === 4 ? 32 : 128;
        const refuse = (problem) => new InputError(`Invalid allow-cidrs, entry ${i + 1}: ${problem}. Expected IPv4 or IPv6 networks such as '203.0.113.0/24' or '2001:db8::/32' (or single addresses), separated by commas, spaces or newlines.`);
        if (family === 0 || address.includes('%'))
            throw refuse('not an IP address');
        if (extra !== undefined || (prefix !== undefined && !/^(?:0|[1-9][0-9]{0,2})$/.test(prefix)))
            throw refuse(`the prefix length is not a number from 0 to ${bits}`);
        try {
            new external_node_net_.BlockList().addSubnet(address, Number(prefix ?? bits), family === 4 ? 'ipv4' : 'ipv6');
        }
        catch {
            throw refuse(`the prefix length is not a number from 0 to ${bits}`);
        }
        return entry;
    });
}
function httpRedirectPort(value, settings) {
    const port = integer(value, 'http-redirect-port', 1, 65535);
    if (!settings.certificate)
        throw new InputError("Input 'http-redirect-port' needs 'lb-certificate': it redirects plain HTTP to the HTTPS that the certificate serves on lb-port. Give lb-certificate, or leave http-redirect-port empty.");
    if (port === settings.lbPort)
        throw new InputError(`Invalid http-redirect-port ${port}: lb-port serves HTTPS there. Choose another port for the redirect, e.g. 80 beside lb-port 443.`);
    if (settings.externalNetwork && port === STATS_PORT)
        throw new InputError(`Invalid http-redirect-port ${STATS_PORT}: on an external network the load-balancer's stats page has that port. Choose another port.`);
    return port;
}
// Unlike the other inputs, an empty external-network is a choice: publish on the Docker host.
function externalNetwork(value) {
    if (value === '')
        return '';
    return matching(value, NETWORK_PATTERN, 'external-network', "a Docker network name (letters, digits, _ . -), or '' to publish lb-port on the Docker host");
}
// A load-balancer's container name, given as `input` (errors suggest `example`). The deployment's
// lock container is named after it too, so the load-balancer cannot have that name.
function loadBalancerName(value, input, instancePrefix, example) {
    const lb = inputs_name(value, input);
    if (lb === lockName(instancePrefix))
        throw new InputError(`Invalid ${input} '${lb}': that name is taken by the lock of deployment '${instancePrefix}'. Choose another ${input}, e.g. '${example}'.`);
    // Companion services' containers (and their volumes) are named `<instance-prefix>-svc-<name>`.
    if (lb.startsWith(serviceContainerName(instancePrefix, '')))
        throw new InputError(`Invalid ${input} '${lb}': names starting with '${serviceContainerName(instancePrefix, '')}' are kept for the companion services of deployment '${instancePrefix}'. Choose another ${input}, e.g. '${example}'.`);
    return lb;
}
// Given, else the workflow's repository, else local; GITHUB_REPOSITORY is held to the same rules,
// since it may come from a person's shell.
function owner(given, repository) {
    const value = given || repository || LOCAL_OWNER;
    if (REPOSITORY_PATTERN.test(value) || (NAME_PATTERN.test(value) && value.length <= NAME_MAX))
        return value;
    throw new InputError(`Invalid owner '${show(value)}'${given ? '' : ' (from GITHUB_REPOSITORY)'}. Expected a repository as 'owner/repo' (the owner up to 39 letters, digits or '-'; the repository up to 100 letters, digits, '.', '_' or '-'), or a local name of up to ${NAME_MAX} letters, digits, '_' or '-' such as '${LOCAL_OWNER}'.`);
}
function deploymentPattern(value) {
    if (value === '')
        throw new InputError("Input 'instance-prefix' is required for prune: give the deployments to consider, with '*' matching any characters, e.g. 'pr-*' ('*' alone: every deployment on the Docker host).");
    if (DEPLOYMENT_PATTERN.test(value) && value.length <= NAME_MAX)
        return value;
    throw new InputError(`Invalid instance-prefix '${show(value)}' for prune. Expected the deployments to consider: up to ${NAME_MAX} letters, digits, '_' or '-', with '*' matching any characters, e.g. 'pr-*' ('*' alone: every deployment on the Docker host).`);
}
function duration(value, input, examples) {
    const match = DURATION_PATTERN.exec(value);
    const seconds = match ? Number(match[1]) * DURATION_UNITS[match[2]] : NaN;
    const max = DURATION_LIMITS[input];
    if (!(seconds <= max)) {
        const unit = ['d', 'h', 'm', 's'].find((u) => max % DURATION_UNITS[u] === 0);
        throw new InputError(`Invalid ${input} '${show(value)}'. Expected a whole number and one unit, s, m, h or d, such as ${examples} (at most ${max / DURATION_UNITS[unit]}${unit}).`);
    }
    return seconds;
}
function oneOf(value, allowed, input) {
    if (allowed.includes(value))
        return value;
    throw new InputError(`Invalid ${input} '${show(value)}'. Expected one of: ${allowed.join(', ')}.`);
}
// YAML 1.2's core schema spellings, as @actions/core's getBooleanInput takes them.
function inputs_boolean(value, input) {
    if (['true', 'True', 'TRUE'].includes(value))
        return true;
    if (['false', 'False', 'FALSE'].includes(value))
        return false;
    throw new InputError(`Invalid ${input} '${show(value)}'. Expected 'true' or 'false'.`);
}
function integer(value, input, min, max) {
    const n = Number(value);
    if (!/^[1-9][0-9]*$/.test(value) || n < min || n > max)
        throw new InputError(`Invalid ${input} '${show(value)}'. Expected a whole number from ${min} to ${max}, written without sign or leading zeros.`);
    return n;
}
function environmentName(value) {
    if (value.length > ENVIRONMENT_MAX || /[\p{Cc}]/u.test(value))
        throw new InputError(`Invalid environment: at most ${ENVIRONMENT_MAX} characters and no control characters, e.g. 'preview' or 'pr-42'.`);
    return value;
}
function inputs_name(value, input) {
    if (NAME_PATTERN.test(value) && value.length <= NAME_MAX)
        return value;
    throw new InputError(`Invalid ${input} '${show(value)}'. Expected up to ${NAME_MAX} letters, digits, '_' or '-', starting with a letter or digit.`);
}
function matching(value, pattern, input, expected) {
    if (pattern.test(value) && value.length <= 255)
        return value;
    throw new InputError(`Invalid ${input} '${show(value)}'. Expected ${expected}.`);
}
// Quote a rejected value without letting control characters or a huge paste into the log; also
// escaped: line separators and bidi overrides that would make the log line read differently.
function show(value) {
    const printable = JSON.stringify(value)
        .slice(1, -1)
        .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, (c) => `\\u${c.codePointAt(0).toString(16).padStart(4, '0')}`);
    return printable.length > 80 ? `${printable.slice(0, 77)}...` : printable;
}

// EXTERNAL MODULE: ./node_modules/@actions/core/lib/core.js
var core = __webpack_require__(7484);
;// CONCATENATED MODULE: ./src/log.ts


const actionsLog = {
    info: (message) => core.info(message),
    // Between stop-commands, under a fresh token each time, so the text cannot end the pause itself.
    quote: (text) => {
        const token = (0,external_node_crypto_.randomUUID)();
        core.info(`::stop-commands::${token}`);
        core.info(text);
        core.info(`::${token}::`);
    },
    warning: (message) => core.warning(message),
    error: (message) => core.error(message),
    debug: (message) => core.debug(message),
    group: (name, fn) => core.group(name, fn),
    // The runner's log stays as it was: a wait shows in its step's group, and its outcome after it.
    progress: () => { },
    setSecret: (value) => core.setSecret(value),
    setOutput: (name, value) => core.setOutput(name, value),
    setFailed: (message) => core.setFailed(message),
};
let current = actionsLog;
// Every secret registered, longest first, for text that leaves the run another way than the log
// (a GitHub deployment's status): the runner masks only the log.
const secrets = [];
function withSecretsMasked(text) {
    return secrets.reduce((masked, secret) => masked.split(secret).join('***'), text);
}
// The log every module prints to; it forwards to the one chosen at start, so its methods can be
// passed around unbound (e.g. `log.info` as a progress callback).
const log_log = {
    info: (message) => current.info(message),
    quote: (text) => current.quote(text),
    warning: (message) => current.warning(message),
    error: (message) => current.error(message),
    debug: (message) => current.debug(message),
    group: (name, fn) => current.group(name, fn),
    progress: (message) => current.progress(message),
    setSecret: (value) => {
        secrets.push(value);
        secrets.sort((a, b) => b.length - a.length);
        current.setSecret(value);
    },
    setOutput: (name, value) => current.setOutput(name, value),
    setFailed: (message) => current.setFailed(message),
};
function useLog(chosen) {
    current = chosen;
}

;// CONCATENATED MODULE: ./src/terminal-log.ts
const STYLES = { bold: [1, 22], dim: [2, 22], red: [31, 39], green: [32, 39], yellow: [33, 39] };
function terminalLog({ out, err, env, now = Date.now }) {
    // Longest first, so that a whole value is replaced before the lines it is made of.
    const secrets = [];
    // How many steps the current line is inside of.
    let depth = 0;
    const mask = (text) => secrets.reduce((masked, secret) => masked.split(secret).join('***'), text);
    const paint = (stream) => {
        // https://no-color.org: present and not empty.
        const colour = stream.isTTY === true && !env.NO_COLOR;
        return (style, text) => (colour ? `\x1b[${STYLES[style][0]}m${text}\x1b[${STYLES[style][1]}m` : text);
    };
    const outStyle = paint(out);
    const errStyle = paint(err);
    // Masked before it is split, indented or painted: a secret may span lines.
    const print = (message, style) => {
        const indent = '  '.repeat(depth);
        for (const line of mask(message).split('\n'))
            out.write(`${indent}${style ? outStyle(style, line) : line}\n`);
    };
    const complain = (label, style, message) => {
        err.write(`${errStyle(style, label)} ${mask(message)}\n`);
    };
    const error = (message) => complain('error:', 'red', message);
    return {
        info: (message) => print(message),
        quote: (text) => print(text),
        warning: (message) => complain('warning:', 'yellow', message),
        error,
        // As on the runner, debug lines show only when asked for.
        debug: (message) => {
            if (env.RUNNER_DEBUG === '1')
                complain('debug:', 'dim', message);
        },
        // A step ends with its elapsed time; a group inside a step (such as a container's logs) is
        // only a heading over its lines.
        group: async (name, fn) => {
            print(`▸ ${outStyle('bold', name)}`);
            const started = now();
            const step = depth === 0;
            let done = false;
            depth++;
            try {
                const result = await fn();
                done = true;
                return result;
            }
            finally {
                depth--;
                const took = elapsed(now() - started);
                if (step && done)
                    print(`${outStyle('green', '✓')} ${name} ${outStyle('dim', `(${took})`)}`);
                if (step && !done)
                    print(`${outStyle('red', '✗')} ${name} ${outStyle('red', `failed after ${took}`)}`);
            }
        },
        progress: (message) => print(message, 'dim'),
        setSecret: (value) => {
            if (!value)
                return;
            secrets.push(value);
            secrets.sort((a, b) => b.length - a.length);
        },
        // A person reads the run's last line; scripts ask for --output json (see cli.ts).
        setOutput: () => { },
        setFailed: (message) => {
            error(message);
            process.exitCode = 1;
        },
    };
}
function elapsed(ms) {
    if (ms < 59_950)
        return `${(ms / 1000).toFixed(1)}s`;
    const seconds = Math.round(ms / 1000);
    return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
}

// EXTERNAL MODULE: external "node:os"
var external_node_os_ = __webpack_require__(8161);
// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __webpack_require__(6760);
;// CONCATENATED MODULE: ./src/docker/target.ts





const DEFAULT_SOCKET = '/var/run/docker.sock';
const TLS_PORT = 2376;
function resolveTarget(dockerHost, tls, env) {
    const address = dockerHost || env.DOCKER_HOST || `unix://${DEFAULT_SOCKET}`;
    if (address.startsWith('unix://')) {
        const socketPath = address.slice('unix://'.length) || DEFAULT_SOCKET;
        return { address, publishedHost: '127.0.0.1', connection: { socketPath } };
    }
    const { host, port, scheme } = parseTcpAddress(address);
    const material = hasCertificates(tls) ? tls : certificatesFromEnvironment(tls, env);
    const protocol = schemeProtocol(scheme) ?? (hasCertificates(material) || port === TLS_PORT ? 'https' : 'http');
    return {
        address,
        publishedHost: host,
        connection: {
            host,
            port,
            protocol,
            ca: material.ca,
            cert: material.cert,
            key: material.key,
            rejectUnauthorized: material.verify,
        },
    };
}
// An explicit http:// or https:// says how to speak; tcp:// and a bare host:port follow the docker
// CLI: TLS when certificates are given or the port is 2376.
function schemeProtocol(scheme) {
    return scheme === 'tcp' ? undefined : scheme;
}
function parseTcpAddress(address) {
    // Parsed as tcp:// whatever the scheme: WHATWG URLs drop a special scheme's default port
    // (http://h:80 would lose its 80).
    const match = /^(?:([a-z]+):\/\/)?(.*)$/s.exec(address);
    const scheme = (match[1] ?? 'tcp');
    let url;
    try {
        url = new URL(`tcp://${match[2]}`);
    }
    catch {
        throw new InputError(invalidHost());
    }
    if (!['tcp', 'http', 'https'].includes(scheme) || !isHostAndPort(url, match[2]))
        throw new InputError(invalidHost());
    const port = url.port ? Number(url.port) : TLS_PORT;
    return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port, scheme };
}
// Nothing but a host and a port: WHATWG URLs silently drop tabs and newlines, and would ignore a
// user name, path, query or fragment that the user meant for something.
function isHostAndPort(url, text) {
    const extras = url.username || url.password || url.search || url.hash || (url.pathname !== '' && url.pathname !== '/');
    return !!url.hostname && !extras && url.port !== '0' && !/[\s\p{Cc}]/u.test(text);
}
// The value itself may be a secret, so the message describes the form without repeating it.
function invalidHost() {
    return "Invalid docker-host. Expected 'tcp://host:port', 'host:port' or 'unix:///path/to/docker.sock'.";
}
function hasCertificates(tls) {
    return !!(tls.ca || tls.cert || tls.key);
}
// As the docker CLI: DOCKER_TLS_VERIFY turns TLS on, with ca.pem, cert.pem and key.pem taken from
// DOCKER_CERT_PATH (default ~/.docker). Inputs given explicitly always win.
function certificatesFromEnvironment(tls, env) {
    if (!env.DOCKER_TLS_VERIFY && !env.DOCKER_CERT_PATH)
        return tls;
    const dir = env.DOCKER_CERT_PATH || external_node_path_.join(external_node_os_.homedir(), '.docker');
    const read = (file) => {
        const full = external_node_path_.join(dir, file);
        return external_node_fs_.existsSync(full) ? external_node_fs_.readFileSync(full, 'utf8') : undefined;
    };
    // Any value of DOCKER_TLS_VERIFY, even '0', means verify, as for the docker CLI; tls-verify decides.
    const material = { ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem'), verify: tls.verify };
    if (!hasCertificates(material))
        throw new InputError(`DOCKER_TLS_VERIFY/DOCKER_CERT_PATH ask for TLS, but ${dir} holds none of ca.pem, cert.pem, key.pem. Give tls-ca-cert, tls-cert and tls-key, or point DOCKER_CERT_PATH at the folder vic-machine wrote.`);
    return material;
}
// Material that cannot work is named before any connection is tried; the messages name the input,
// never its contents. Node would otherwise ignore an unreadable CA and fail later as "unable to verify".
function checkTlsMaterial(c) {
    if (c.protocol !== 'https')
        return;
    if (!!c.cert !== !!c.key)
        throw new InputError('tls-cert and tls-key go together: give both or neither.');
    const certificate = c.cert ? parsePem(() => new external_node_crypto_.X509Certificate(c.cert), 'tls-cert', 'a PEM certificate') : undefined;
    const key = c.key ? parsePem(() => (0,external_node_crypto_.createPrivateKey)(c.key), 'tls-key', 'a PEM private key') : undefined;
    if (c.ca)
        parsePem(() => new external_node_crypto_.X509Certificate(c.ca), 'tls-ca-cert', 'a PEM certificate');
    if (certificate && key && !certificate.checkPrivateKey(key))
        throw new InputError('tls-key is not the private key of tls-cert. Give the key.pem that belongs to cert.pem.');
}
function parsePem(parse, input, expected) {
    try {
        return parse();
    }
    catch {
        throw new InputError(`${input} is not ${expected}. Paste the whole file, including its -----BEGIN and -----END lines.`);
    }
}

// EXTERNAL MODULE: external "node:http"
var external_node_http_ = __webpack_require__(7067);
// EXTERNAL MODULE: external "node:https"
var external_node_https_ = __webpack_require__(4708);
// EXTERNAL MODULE: ./node_modules/dockerode/lib/docker.js
var docker = __webpack_require__(9040);
var docker_default = /*#__PURE__*/__webpack_require__.n(docker);
;// CONCATENATED MODULE: ./src/docker/connection-errors.ts

class ProbeTimeout extends Error {
    phase;
    ms;
    constructor(phase, ms) {
        super(`${phase} timeout after ${ms} ms`);
        this.phase = phase;
        this.ms = ms;
    }
}
// A non-200 answer, or a body that is not the Engine's JSON: something else listens there.
class UnexpectedAnswer extends Error {
    status;
    body;
    constructor(status, body) {
        super(`HTTP ${status}`);
        this.status = status;
        this.body = body;
    }
}
function explainUnreachable(target, failure, attempts) {
    const tries = attempts > 1 ? `; gave up after ${attempts} attempts` : '';
    return `Cannot reach the Docker host ${target.address}: ${failure.what}${tries}. ${failure.advice}`;
}
// Errors of the connection itself, as opposed to an HTTP error status from the Engine.
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
function isConnectionLoss(error) {
    if (!(error instanceof Error) || error.statusCode !== undefined)
        return false;
    return CONNECTION_CODES.has(error.code ?? '') || error.message === 'socket hang up';
}
// The host's certificate did not verify against the CA given (or the runner's CAs).
const SERVER_UNTRUSTED = new Set([
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'UNABLE_TO_GET_ISSUER_CERT',
    'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    'CERT_SIGNATURE_FAILURE',
    'CERT_UNTRUSTED',
]);
// TLS alerts a server sends about the client's certificate (TLS 1.2 and 1.3 spellings).
const CLIENT_CERT_REFUSED = /^ERR_SSL_(?:SSLV3|TLSV1|TLSV13)_ALERT_(?:BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA|CERTIFICATE_EXPIRED|CERTIFICATE_UNKNOWN|CERTIFICATE_REVOKED|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED)$/;
// What OpenSSL says when the answer to its ClientHello is plain text.
const PLAIN_TEXT_ANSWER = /wrong version number|packet length too long|http request/i;
function probeFailure(error, target) {
    const c = target.connection;
    if (error instanceof ProbeTimeout)
        return timeoutFailure(error, target);
    if (error instanceof UnexpectedAnswer)
        return answerFailure(error, target);
    const { code = '', message = String(error) } = error;
    if ('socketPath' in c)
        return socketFailure(code, message, c.socketPath);
    return tlsFailure(code, message, c) ?? networkFailure(code, message, c);
}
function timeoutFailure(error, target) {
    const seconds = error.ms / 1000;
    if (error.phase === 'connect')
        return {
            what: `no connection within ${seconds} s`,
            advice: 'Check the host name and port, that the host is up, and that no firewall drops traffic from this runner.',
            transient: true,
        };
    const spoken = 'socketPath' in target.connection ? '' : ` (this connection used ${target.connection.protocol === 'https' ? 'TLS' : 'plain HTTP'})`;
    return {
        what: `connected, but GET /version got no answer within ${seconds} s`,
        advice: `Check that docker-host points at the Docker Engine API port${spoken} and that the host is not overloaded.`,
        transient: true,
    };
}
function answerFailure(error, target) {
    if (error.status === 400 && /HTTP request to an HTTPS server/i.test(error.body))
        return {
            what: 'the host expects TLS on this port, and this connection was plain HTTP (no TLS inputs were given)',
            advice: 'Give tls-ca-cert, tls-cert and tls-key (or DOCKER_TLS_VERIFY and DOCKER_CERT_PATH), or write docker-host as https://host:port.',
            transient: false,
        };
    const port = 'socketPath' in target.connection ? '' : ` (port ${target.connection.port})`;
    return {
        what: `GET /version answered HTTP ${error.status}${error.status === 200 ? ' with something other than the Engine API version' : ''}`,
        advice: `Check that docker-host points at the Docker Engine API${port}, not at another service.`,
        transient: error.status >= 500,
    };
}
function socketFailure(code, message, socketPath) {
    if (code === 'EACCES')
        return { what: `no permission to use the socket ${socketPath}`, advice: 'Run the job as a user in the docker group, or set docker-host.', transient: false };
    if (code === 'ENOENT' || code === 'ECONNREFUSED')
        return {
            what: `nothing listens on the socket ${socketPath} (${code})`,
            advice: 'Check that the Docker daemon runs on this runner, or set docker-host to a remote Docker host or VCH.',
            transient: true,
        };
    return { what: code || message, advice: 'Check that the Docker daemon runs on this runner.', transient: false };
}
function tlsFailure(code, message, c) {
    const fix = "Give the CA that signed the host's certificate (the ca.pem vic-machine wrote) as tls-ca-cert, or set tls-verify to false for a VCH created with --no-tlsverify.";
    if (SERVER_UNTRUSTED.has(code))
        return {
            what: c.ca
                ? `the Docker host's certificate is not signed by tls-ca-cert (${code})`
                : `the Docker host's certificate is not signed by a CA this runner trusts, and no tls-ca-cert was given (${code})`,
            advice: fix,
            transient: false,
        };
    if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID')
        return {
            what: `the Docker host's certificate has expired or is not valid yet (${code})`,
            advice: "Renew the host's certificate (vic-machine configure --tls-cert-path / regenerate), or check the clocks of the host and this runner.",
            transient: false,
        };
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
        return {
            what: `the Docker host's certificate is not issued for the name or address in docker-host (${code})`,
            advice: 'Use the name or address the certificate was issued for, or regenerate the certificate with this one.',
            transient: false,
        };
    if (CLIENT_CERT_REFUSED.test(code))
        return {
            what: `the Docker host refused the client certificate: ${clientCertificateProblem(c)} (${code})`,
            advice: 'Give the client certificate and key issued for this host (cert.pem and key.pem from vic-machine) as tls-cert and tls-key.',
            transient: false,
        };
    if (c.protocol === 'https' && PLAIN_TEXT_ANSWER.test(message))
        return {
            what: `the host does not speak TLS on port ${c.port}; it answered in plain text`,
            advice: 'Use the TLS port of the Docker host (2376), or, if its API really has no TLS, leave out the TLS inputs and write docker-host as http://host:port.',
            transient: false,
        };
    if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code === 'EPROTO')
        return { what: `the TLS handshake failed (${code})`, advice: "Check the TLS inputs against the Docker host's TLS settings.", transient: false };
    return undefined;
}
// The server's alert does not say what was wrong with the certificate; what was given does.
function clientCertificateProblem(c) {
    if (!c.cert)
        return 'none was given, tls-cert and tls-key are empty';
    const certificate = new external_node_crypto_.X509Certificate(c.cert);
    const now = Date.now();
    if (Date.parse(certificate.validTo) < now)
        return `the client certificate expired on ${new Date(certificate.validTo).toISOString().slice(0, 10)}`;
    if (Date.parse(certificate.validFrom) > now)
        return `the client certificate is valid only from ${new Date(certificate.validFrom).toISOString().slice(0, 10)}`;
    return 'it is not signed by a CA the host trusts, or it was revoked';
}
function networkFailure(code, message, c) {
    switch (code) {
        case 'ECONNREFUSED':
            return {
                what: `nothing accepts connections on port ${c.port} (ECONNREFUSED)`,
                advice: 'Check the port (2376 with TLS, 2375 without) and that dockerd or the VCH endpoint VM is running and listens there.',
                transient: true,
            };
        case 'ENOTFOUND':
        case 'EAI_AGAIN':
            return {
                what: `the host name does not resolve (${code})`,
                advice: "Check the host name in docker-host and the runner's DNS.",
                transient: code === 'EAI_AGAIN',
            };
        case 'EHOSTUNREACH':
        case 'ENETUNREACH':
        case 'ETIMEDOUT':
            return { what: `no route to the host (${code})`, advice: "Check that the runner can reach the host's network (VPN, firewall, routes).", transient: true };
        case 'ECONNRESET':
        case 'EPIPE':
            return {
                what: `the host closed the connection before answering (${code})`,
                advice: `Check that port ${c.port} serves the Docker Engine API${c.protocol === 'http' ? ' without TLS' : ' with TLS'}.`,
                transient: true,
            };
        default:
            // Only the code: Node's messages name the host, which may be the secret part of docker-host.
            return { what: code || message, advice: 'Check docker-host and the TLS inputs.', transient: false };
    }
}

;// CONCATENATED MODULE: ./src/docker/connection-loss.ts

// Once a loss has been reported, calls the daemon refuses are tried again for this long: the failed
// run's clean-up (and the release of its lock) then reaches a daemon that restarts.
const COMEBACK_MS = 30_000;
const RETRY_MS = 500;
// Shorter than any daemon restart: a reopened event stream must find the daemon still down.
const REOPEN_DELAY_MS = 200;
// Every API call goes through docker-modem's dial. A call that cannot reach the host fails with a
// message naming the host and what to do, instead of a bare "connect ECONNREFUSED"; HTTP errors
// from the Engine pass unchanged (callers read their statusCode).
//
// A daemon that restarts between two calls is no failed call, yet it stopped this run's
// containers, which the deploy would then find exited and blame on the image. So the Engine's
// event stream is held open: when it ends and the daemon refuses a new one, the next call fails
// with the connection loss.
function reportConnectionLoss(docker, target) {
    const modem = docker.modem;
    const dial = modem.dial.bind(modem);
    const loss = new LossTracker();
    modem.dial = (options, callback) => {
        const missed = loss.takeMissed();
        if (missed)
            return callback(connectionLost(target, `${missed}; the daemon stopped or restarted during this run, and this run's containers with it`), null);
        // docker-modem's dial rewrites the options it is given (it prefixes the API version to the
        // path): each attempt gets a copy.
        const attempt = () => dial({ ...options }, (error, data) => {
            if (!isConnectionLoss(error))
                return callback(error, data);
            if (loss.mayRetry(error))
                return void setTimeout(attempt, RETRY_MS);
            loss.reported();
            callback(connectionLost(target, error.code ?? error.message), null);
        });
        attempt();
    };
    watchEvents(dial, loss);
}
function connectionLost(target, why) {
    return new Error(`Lost the connection to the Docker host ${target.address} (${why}). Check that the Docker daemon (or the VCH endpoint) is running and reachable, then run the action again: the next run replaces what this one left behind.`);
}
class LossTracker {
    missed;
    reportedAt;
    // A loss seen by the event stream, not yet by any call: the next call reports it.
    sawMissed(code) {
        if (this.reportedAt === undefined)
            this.missed = code;
    }
    takeMissed() {
        const missed = this.missed;
        if (missed)
            this.reported();
        this.missed = undefined;
        return missed;
    }
    reported() {
        this.reportedAt ??= Date.now();
    }
    // Only a refused connection: the request never reached the daemon, so trying again is safe
    // whatever it does.
    mayRetry(error) {
        const refused = error.code === 'ECONNREFUSED' || error.code === 'ENOENT';
        return refused && this.reportedAt !== undefined && Date.now() < this.reportedAt + COMEBACK_MS;
    }
}
// An Engine without an event stream (or one that refuses it) is simply not watched.
function watchEvents(dial, loss) {
    const events = { path: '/events?', method: 'GET', options: {}, isStream: true, statusCodes: { 200: true } };
    dial(events, (error, data) => {
        if (error) {
            if (isConnectionLoss(error))
                loss.sawMissed(error.code ?? error.message);
            return;
        }
        const stream = data;
        // Watching must not keep the action's process alive once its work is done.
        stream.socket?.unref();
        stream.resume();
        // A stream closed by a proxy's idle timeout is reopened, without spinning on one that closes
        // at once.
        stream.once('close', () => setTimeout(() => watchEvents(dial, loss), REOPEN_DELAY_MS).unref());
    });
}

;// CONCATENATED MODULE: ./src/docker/host-profile.ts
// Everything the action does differently per Docker-API host, in one place. Three hosts speak the
// same Engine API with different behaviour: Docker Engine (dockerd), Podman (`podman system
// service`, an independent implementation of the API) and a vSphere Integrated Containers host
// (VCH: every container is a VM). The rest of the action asks this profile and never the host's
// kind. Measured on dockerd 20.10, Podman 4.3.1 and the VIC 1.5.8 sources (docs: vic.md, podman.md).
//
// Name lookups differ too, and need no setting: HAProxy resolves the instances through whatever
// each container's resolv.conf names (dockerd's 127.0.0.11, Podman's aardvark-dns at the network
// gateway, the VCH's resolver on its bridge). Podman's can stall for tens of seconds right after
// containers start, so a candidate configuration is checked without lookups on every host
// (renderConfigToCheck in haproxy/config.ts). Likewise Podman creates a missing directory on a
// put where the others refuse it, so the load-balancer's image is asked for its configuration
// directory on every host (hasPath in docker/archive.ts).
// dockerd has set net.ipv4.ip_unprivileged_port_start=0 in every container's network namespace
// since 20.10, which speaks Engine API 1.41.
const UNPRIVILEGED_LOW_PORTS_SINCE_API = '1.41';
function detectHost(version, info) {
    if (isVch(info))
        return {
            kind: 'vch',
            name: `vSphere Integrated Containers host (${info.Driver ?? info.ID})`,
            // A start boots a VM and takes seconds: many at once.
            startsAtOnce: 25,
            // Restart policies are ignored.
            // Accepts every Docker status but only ever matches created, running and exited.
            stoppedStatuses: ['exited'],
            nameClashStatus: 409,
            // A containerVM's kernel keeps the default 1024 and takes no sysctl or capability.
            unprivilegedLowPorts: false,
            instanceSize: 'containerVM',
            // `local` is an alias of `vsphere` there; either goes to the store named by VolumeStore.
            volumeDriver: 'vsphere',
            volumeStore: 'default',
            // No process list (top is not implemented).
            note: 'VCH: containers are created on one network each and connected to the instance network before they start; restart policies do not apply, HAProxy health checks do.',
        };
    const podman = version.Components?.find((c) => c.Name === 'Podman Engine');
    if (podman)
        return {
            kind: 'podman',
            name: `Podman ${podman.Version ?? version.Version ?? '?'}`,
            // Starts are CPU-bound as on dockerd (conmon, runc, netavark).
            startsAtOnce: 8,
            // A crash loop has no back-off on Podman, hence the bound: a container that crashes at start
            // ends up exited after a few quick restarts, and is reported then.
            restartPolicy: { Name: 'on-failure', MaximumRetryCount: 5 },
            // `dead` and `restarting` are refused with a 500.
            stoppedStatuses: ['exited'],
            // "the container name ... is already in use".
            nameClashStatus: 500,
            // Containers keep the kernel default of 1024.
            unprivilegedLowPorts: false,
            instanceSize: 'cgroup-limits',
            volumeDriver: 'local',
            // psgo's descriptors: `-o pid,ppid,comm` or no ps_args at all answer 200 with an empty body.
            processListArgs: 'pid,ppid,comm',
            localImageNamespace: 'localhost/',
            note: 'Podman: containers restart on failure at most 5 times, since Podman restarts a crashing container without waiting.',
        };
    return {
        kind: 'docker',
        name: `Docker Engine ${version.Version ?? '?'}`,
        // Starts are CPU-bound here (N=50 on 2 cores: 8 or 4 at once about 10 s, 25 at once 12.4 s).
        startsAtOnce: 8,
        // dockerd waits longer before each restart and shows the container as `restarting` meanwhile.
        restartPolicy: { Name: 'unless-stopped' },
        stoppedStatuses: ['exited', 'dead', 'restarting'],
        nameClashStatus: 409,
        unprivilegedLowPorts: compareApi(String(version.ApiVersion ?? '0.0'), UNPRIVILEGED_LOW_PORTS_SINCE_API) >= 0,
        instanceSize: 'cgroup-limits',
        volumeDriver: 'local',
        // Options of the host's `ps`.
        processListArgs: '-o pid,ppid,comm',
    };
}
function isVch(info) {
    return [info.ID, info.Driver].some((field) => String(field ?? '').startsWith('vSphere Integrated Containers'));
}
// A create refused because the name is taken (as opposed to any other failure).
function isNameClash(host, error) {
    const { statusCode, json, message } = error;
    if (statusCode !== host.nameClashStatus)
        return false;
    return statusCode === 409 || /already in use/i.test(json?.message ?? message ?? '');
}
// The user the load-balancer container runs as: the image's own (uid 99 in the official image)
// unless HAProxy must bind a port below 1024 on a host that does not let a non-root process do
// so. Then its master starts as root, binds, and its workers drop to the image's `haproxy` user
// (see dropsPrivileges in haproxy/config.ts); the master stays root so that a reload can bind.
function lbUser(host, listenPort) {
    return listenPort < 1024 && !host.unprivilegedLowPorts ? 'root' : undefined;
}
function compareApi(a, b) {
    const [aMajor, aMinor] = a.split('.').map(Number);
    const [bMajor, bMinor] = b.split('.').map(Number);
    return aMajor - bMajor || aMinor - bMinor;
}

;// CONCATENATED MODULE: ./src/docker/engine.ts








// The newest Engine API version this action has been written against. Docker 29 refuses clients
// below 1.44; a VCH speaks 1.25 at most. Every call the action makes exists since 1.25.
const NEWEST_KNOWN_API = '1.47';
const OLDEST_SUPPORTED_API = '1.25';
// The first contact is bounded: a host that drops packets or a port that accepts and never
// answers must not hold the job until the runner's own timeout. A refused or lost connection is
// tried again (a daemon restarting), a refused certificate is not.
const PROBE_TIMING = { connectMs: 5_000, answerMs: 10_000, retryDelaysMs: [1_000, 3_000] };
async function connectEngine(target) {
    if (!('socketPath' in target.connection))
        checkTlsMaterial(target.connection);
    // Asked alongside /version (Podman answers each in 0.1-0.4 s); asked again below if this attempt
    // failed for another reason than a stuck daemon, e.g. a host that was restarting.
    const earlyInfo = infoOf(clientOf(target), target).catch((error) => error);
    // docker-modem does not negotiate: unversioned paths first, to learn what the server speaks.
    const version = await probeWithRetries(target);
    const serverApi = String(version.ApiVersion ?? '');
    if (!/^\d+\.\d+$/.test(serverApi) || compareApi(serverApi, OLDEST_SUPPORTED_API) < 0)
        throw new Error(`The Docker host ${target.address} speaks Engine API '${serverApi}'; this action needs ${OLDEST_SUPPORTED_API} or newer.`);
    const apiVersion = compareApi(serverApi, NEWEST_KNOWN_API) < 0 ? serverApi : NEWEST_KNOWN_API;
    const docker = newClient(target, apiVersion);
    const info = await earlyInfo;
    if (info instanceof StuckDaemon)
        throw info;
    const host = detectHost(version, info instanceof Error ? await infoOf(docker, target) : info);
    return { docker, target, apiVersion, host, description: `${host.name}, Engine API ${serverApi}, using ${apiVersion}` };
}
// GET /info gathers state from every container: a dockerd that has wedged on one (moby#44300, seen
// on 20.10 after many concurrent removals) answers /version at once and /info never.
async function infoOf(docker, target) {
    try {
        // dockerode's types leave out the options its info() takes.
        const withOptions = docker;
        return await withOptions.info({ abortSignal: AbortSignal.timeout(PROBE_TIMING.answerMs) });
    }
    catch (error) {
        if (error.name !== 'AbortError' && error.name !== 'TimeoutError')
            throw error;
        throw new StuckDaemon(`The Docker host ${target.address} answered GET /version but not GET /info within ${PROBE_TIMING.answerMs / 1000} s: its daemon is stuck (docker info hangs there too). Restart the Docker daemon, then run the action again.`);
    }
}
class StuckDaemon extends Error {
}
async function probeWithRetries(target) {
    const { retryDelaysMs } = PROBE_TIMING;
    for (let attempt = 1;; attempt++) {
        let failure;
        try {
            return await getVersion(target);
        }
        catch (error) {
            failure = probeFailure(error, target);
        }
        if (!failure.transient || attempt > retryDelaysMs.length)
            throw new Error(explainUnreachable(target, failure, attempt));
        await new Promise((resolve) => setTimeout(resolve, retryDelaysMs[attempt - 1]));
    }
}
// GET /version by hand rather than through docker-modem, to time the TCP connect and the answer
// separately and to keep the TLS error codes that tell a wrong CA from a refused client certificate.
function getVersion(target) {
    return new Promise((resolve, reject) => {
        const request = versionRequest(target);
        const fail = (error) => {
            clearTimeout(timer);
            request.destroy(error);
        };
        let timer = setTimeout(() => fail(new ProbeTimeout('connect', PROBE_TIMING.connectMs)), PROBE_TIMING.connectMs);
        request.once('socket', (socket) => socket.once('connect', () => {
            clearTimeout(timer);
            timer = setTimeout(() => fail(new ProbeTimeout('answer', PROBE_TIMING.answerMs)), PROBE_TIMING.answerMs);
        }));
        request.once('response', (response) => {
            let body = '';
            response.setEncoding('utf8').on('data', (chunk) => (body += chunk.slice(0, 4096 - body.length)));
            response.once('end', () => {
                clearTimeout(timer);
                try {
                    resolve(parseVersion(response.statusCode ?? 0, body));
                }
                catch (error) {
                    reject(error);
                }
            });
        });
        request.once('error', (error) => {
            clearTimeout(timer);
            reject(error);
        });
        request.end();
    });
}
function versionRequest(target) {
    const c = target.connection;
    if ('socketPath' in c)
        return external_node_http_.request({ socketPath: c.socketPath, path: '/version', agent: false });
    if (c.protocol === 'http')
        return external_node_http_.request({ host: c.host, port: c.port, path: '/version', agent: false });
    return external_node_https_.request({ host: c.host, port: c.port, path: '/version', agent: false, ...tlsOptions(c) });
}
function parseVersion(status, body) {
    if (status !== 200)
        throw new UnexpectedAnswer(status, body);
    try {
        return JSON.parse(body);
    }
    catch {
        throw new UnexpectedAnswer(status, body);
    }
}
function tlsOptions(c) {
    return { ca: c.ca, cert: c.cert, key: c.key, rejectUnauthorized: c.rejectUnauthorized };
}
function newClient(target, apiVersion) {
    const docker = clientOf(target, apiVersion);
    reportConnectionLoss(docker, target);
    return docker;
}
// Without apiVersion: unversioned paths, which every host serves at its own newest version.
function clientOf(target, apiVersion) {
    const version = apiVersion && `v${apiVersion}`;
    const c = target.connection;
    return 'socketPath' in c
        ? new (docker_default())({ socketPath: c.socketPath, host: undefined, version, agent: socketAgent() })
        : new (docker_default())(tcpOptions(c, version));
}
// A connection per call on the local socket (Node's default agent keeps them alive): a daemon that
// is shutting down closes its listener first and then stops the containers, answering on the
// connections it already has. A kept connection would show this run's containers exited, as if
// the image had failed; a new one is refused, and says what happened.
function socketAgent() {
    return shownBriefly(new external_node_http_.Agent({ keepAlive: false }));
}
// An explicit agent carries the client certificate and honours tls-verify=false, which
// docker-modem's own TLS options cannot express. Keep-alive spares a TLS handshake per call.
// The key material goes to the agent only: docker-modem would otherwise put it into every request's
// options (and its DEBUG output), and would take DOCKER_CERT_PATH's files on its own.
function tcpOptions(c, version) {
    const agent = c.protocol === 'https' ? shownBriefly(new external_node_https_.Agent({ ...tlsOptions(c), keepAlive: true })) : undefined;
    return { host: c.host, port: c.port, protocol: c.protocol, agent, ca: undefined, cert: undefined, key: undefined, version };
}
// docker-modem formats the options of every request, the agent among them, with util.inspect
// (showHidden, unlimited depth) whether DEBUG is on or not. Through the agent's sockets that is
// megabytes of garbage per call, which made the heap, and the peak RSS, grow with every instance.
function shownBriefly(agent) {
    Object.defineProperty(agent, external_node_util_.inspect.custom, { value: () => `[${agent.constructor.name}]` });
    return agent;
}
function describe(error) {
    if (error instanceof Error) {
        const json = error.json;
        return json?.message ?? error.message;
    }
    return String(error);
}

// EXTERNAL MODULE: ./node_modules/tar-stream/index.js
var tar_stream = __webpack_require__(6118);
;// CONCATENATED MODULE: ./src/docker/archive.ts


// Default 0644 owned by root: the official HAProxy image runs as a non-root user that must be
// able to read it. A private file (mode 0400) is given to the one user that reads it.
async function putFile(container, dir, name, content, { mode = 0o644, owner = { uid: 0, gid: 0 } } = {}) {
    const pack = tar_stream.pack();
    pack.entry({ name, mode, uid: owner.uid, gid: owner.gid, mtime: new Date() }, content);
    pack.finalize();
    await container.putArchive(await collect(pack), { path: dir });
}
// Whether the container has this path. A put alone does not tell: Podman creates a missing
// directory where dockerd and a VCH refuse the put.
async function hasPath(container, path) {
    try {
        // Read to the end (a directory of a few files): the host then closes the archive as usual.
        for await (const _chunk of (await container.getArchive({ path })))
            ;
        return true;
    }
    catch (error) {
        if (isMissingPath(error))
            return false;
        throw error;
    }
}
// Whether an archive read says the path is not there: a 404, or Podman 4.3's 500 "no such file or
// directory", which it answers when the file is replaced while it reads it (a lease renewed while a
// waiting run reads it: seen 6 times in a minute of reads against a renewal every 0.3 s).
function isMissingPath(error) {
    const { statusCode, message } = error;
    const said = String(message);
    return statusCode === 404 || (statusCode === 500 && /no such file or directory/i.test(said) && !/no such container/i.test(said));
}
// The file's text, or undefined when the container does not have it.
async function getFile(container, filePath) {
    const files = await readArchive(container, filePath);
    return files?.values().next().value;
}
// The text of each file directly in the directory, by name (none when the container has no such
// directory): one archive for what would take one request per file, each of which costs a
// dockerd 20.10 about 75 ms.
async function getFiles(container, dir) {
    const files = await readArchive(container, dir);
    const inside = `${external_node_path_.posix.basename(dir)}/`;
    const byName = new Map();
    for (const [entry, content] of files ?? []) {
        const name = entry.startsWith(inside) ? entry.slice(inside.length) : '';
        if (name && !name.includes('/'))
            byName.set(name, content);
    }
    return byName;
}
// The text of every regular file in an archive of the path, by its name in the archive.
async function readArchive(container, archivedPath) {
    let archive;
    try {
        archive = await container.getArchive({ path: archivedPath });
    }
    catch (error) {
        if (isMissingPath(error))
            return undefined;
        throw error;
    }
    const extract = tar_stream.extract();
    const files = new Map();
    const done = new Promise((resolve, reject) => {
        extract.on('entry', (header, stream, next) => {
            const chunks = [];
            stream.on('data', (chunk) => chunks.push(chunk));
            stream.on('end', () => {
                if (header.type === 'file')
                    files.set(header.name, Buffer.concat(chunks).toString('utf8'));
                next();
            });
        });
        extract.on('finish', resolve);
        extract.on('error', reject);
    });
    archive.pipe(extract);
    await done;
    return files;
}
// The user and group the container's main process runs as (its User, else root), by number, as
// the container's own /etc/passwd and /etc/group say: `haproxy` in the official image is uid 99.
async function processOwner(container) {
    const { Config, Name } = await container.inspect();
    const [user = '', group] = (Config.User ?? '').split(':');
    if (user === '' && !group)
        return { uid: 0, gid: 0 };
    const numeric = (id) => /^[0-9]+$/.test(id);
    const account = (await entriesOf(container, '/etc/passwd')).find((f) => (numeric(user) ? f[2] === user : f[0] === (user || 'root')));
    const uid = numeric(user) ? Number(user) : user === '' ? 0 : Number(account?.[2] ?? NaN);
    const gid = !group
        ? Number(account?.[3] ?? uid)
        : numeric(group)
            ? Number(group)
            : Number((await entriesOf(container, '/etc/group')).find((f) => f[0] === group)?.[2] ?? NaN);
    if (!Number.isInteger(uid) || !Number.isInteger(gid))
        throw new Error(`Container ${Name.replace(/^\//, '')} runs as '${Config.User}', which its /etc/passwd or /etc/group does not define.`);
    return { uid, gid };
}
async function entriesOf(container, file) {
    return ((await getFile(container, file)) ?? '').split('\n').map((line) => line.split(':'));
}
async function collect(stream) {
    const chunks = [];
    for await (const chunk of stream)
        chunks.push(chunk);
    return Buffer.concat(chunks);
}

// EXTERNAL MODULE: ./node_modules/p-limit/index.js + 1 modules
var p_limit = __webpack_require__(370);
;// CONCATENATED MODULE: ./src/docker/containers.ts


// Container and network removal shared by a failed deploy's clean-up, scaling down and teardown,
// plus the small container operations the orchestration needs.
// Bounds how many API calls of one kind run at once (see steps/start.ts for container starts).
function limited(items, task, concurrency = 8) {
    const limit = (0,p_limit/* default */.A)(concurrency);
    return Promise.all(items.map((item) => limit(() => task(item))));
}
// Containers first: a network or volume cannot be removed while containers use it. Returns the
// objects that could not be removed, with why, so callers decide how loud to be.
async function removeObjects(docker, containerIds, networkIds, volumes = []) {
    const failures = [];
    const attempt = async (what, remove) => {
        try {
            await remove();
        }
        catch (error) {
            if (error.statusCode !== 404)
                failures.push(`${what}: ${describe(error)}`);
        }
    };
    await limited(containerIds, (id) => attempt(`container ${id.slice(0, 12)}`, () => removeContainer(docker.getContainer(id))));
    await limited(networkIds, (id) => attempt(`network ${id.slice(0, 12)}`, () => removeNetwork(docker.getNetwork(id))));
    await limited(volumes, (name) => attempt(`volume ${name}`, () => docker.getVolume(name).remove()));
    return failures;
}
// Podman (4.3) refuses to force-remove a container that its restart policy is restarting at that
// moment ("container state improper"): try again briefly.
function removeContainer(container) {
    return retried(() => container.remove({ force: true }), /container state improper/i, 250);
}
// Right after its containers are force-removed, dockerd (20.10, moby#42119) can still count their
// endpoints for a moment and refuse to remove the network: try again briefly.
function removeNetwork(network) {
    return retried(() => network.remove(), /active endpoints/i, 500);
}
async function retried(call, transient, delayMs, attempts = 4) {
    for (let attempt = 1;; attempt++) {
        try {
            return await call();
        }
        catch (error) {
            if (attempt >= attempts || !transient.test(describe(error)))
                throw error;
            await new Promise((resolve) => setTimeout(resolve, delayMs * attempt));
        }
    }
}
// The last lines a container wrote, stdout and stderr together.
async function recentLogs(container, lines = 50) {
    const raw = (await container.logs({ stdout: true, stderr: true, tail: lines, follow: false }));
    return demultiplex(Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw)));
}
// Without a TTY the API frames log output: 1 byte stream type, 3 zero bytes, 4 bytes length.
function demultiplex(raw) {
    if (raw.length < 8 || raw[0] > 2 || raw[1] !== 0 || raw[2] !== 0 || raw[3] !== 0)
        return raw.toString('utf8');
    const parts = [];
    for (let offset = 0; offset + 8 <= raw.length;) {
        const size = raw.readUInt32BE(offset + 4);
        parts.push(raw.subarray(offset + 8, offset + 8 + size));
        offset += 8 + size;
    }
    return Buffer.concat(parts).toString('utf8');
}

;// CONCATENATED MODULE: ./src/docker/state.ts

async function listDeployment(host, deployment) {
    const labels = [`${LABEL.deployment}=${deployment}`];
    const [containers, networks, volumes] = await Promise.all([host.listContainers(labels), host.listNetworks(labels), host.listVolumes(labels)]);
    return { containers, networks, volumes };
}
// Pure: the deployment's instances, load-balancer, services, networks and volumes among its objects.
function deploymentState({ containers, networks, volumes }) {
    const state = {
        instances: [],
        networks: networks.map(({ id, name }) => ({ id, name })),
        services: [],
        volumes: volumes.map(({ name, labels }) => ({ name, service: labels[LABEL.service] ?? '', path: labels[LABEL.volumePath] ?? '' })),
    };
    for (const { labels, ...c } of containers) {
        const base = { id: c.id, name: c.name, running: c.running };
        if (labels[LABEL.role] === 'lb')
            state.lb = { ...base, spec: labels[LABEL.lbSpec] ?? '' };
        else if (labels[LABEL.role] === 'service')
            state.services.push({ ...base, service: labels[LABEL.service] ?? '', spec: labels[LABEL.serviceSpec] ?? '' });
        else if (labels[LABEL.role] === 'instance')
            state.instances.push({
                ...base,
                generation: labels[LABEL.generation] ?? '',
                index: Number(labels[LABEL.index]),
                port: Number(labels[LABEL.port]),
            });
    }
    return state;
}
// The deployment label of an object with this name, '' for an object without one, undefined when
// there is no such object: used to refuse to take over somebody else's container or network.
async function deploymentOf(host, kind, name) {
    const labels = await host.labelsOf(kind, name);
    return labels && (labels[LABEL.deployment] ?? '');
}
function containerName(container) {
    return container.Names[0]?.replace(/^\//, '') ?? container.Id;
}

;// CONCATENATED MODULE: ./src/docker/dockerode-host.ts




// The DockerHost of a deploy, through dockerode.
// A container already in the state asked for (304) is what the caller wanted.
const notModified = (error) => {
    if (error.statusCode !== 304)
        throw error;
};
function dockerodeHost(docker) {
    const container = (id) => docker.getContainer(id);
    // GET /containers/json in every state, as the steps name containers.
    const containers = async (filters) => (await docker.listContainers({ all: true, filters: JSON.stringify(filters) })).map((c) => ({
        id: c.Id,
        name: containerName(c),
        running: c.State === 'running',
        labels: c.Labels ?? {},
        created: new Date(c.Created * 1000),
    }));
    return {
        createNetwork: async (name, labels) => (await docker.createNetwork({ Name: name, Driver: 'bridge', CheckDuplicate: true, Labels: labels })).id,
        createContainer: async (spec) => (await docker.createContainer(spec)).id,
        connect: async (network, id) => {
            await docker.getNetwork(network).connect({ Container: id });
        },
        start: (id) => container(id)
            .start()
            .then(() => undefined, notModified),
        stop: (id, timeoutS) => container(id)
            .stop({ t: timeoutS })
            .then(() => undefined, notModified),
        rename: async (id, name) => {
            await container(id).rename({ name });
        },
        inspect: (id) => container(id).inspect(),
        listContainers: (labels) => containers({ label: labels }),
        listNetworks: async (labels) => (await docker.listNetworks({ filters: JSON.stringify({ label: labels }) })).map((n) => ({
            id: n.Id,
            name: n.Name,
            labels: n.Labels ?? {},
            created: new Date(n.Created),
        })),
        listVolumes: async (labels) => ((await docker.listVolumes({ filters: JSON.stringify({ label: labels }) })).Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {} })),
        createVolume: async (name, driver, options, labels) => (await docker.createVolume({ Name: name, Driver: driver, DriverOpts: options, Labels: labels })).name,
        volumeStores: async () => {
            const { SystemStatus } = (await docker.info());
            const stores = SystemStatus?.find(([key]) => key === 'VolumeStores')?.[1];
            return stores === undefined ? undefined : stores.split(' ').filter(Boolean);
        },
        labelsOf: async (kind, name) => {
            try {
                if (kind === 'container')
                    return (await container(name).inspect()).Config.Labels ?? {};
                return (await docker.getNetwork(name).inspect()).Labels ?? {};
            }
            catch (error) {
                if (error.statusCode === 404)
                    return undefined;
                throw error;
            }
        },
        cpuCount: async () => (await docker.info()).NCPU,
        listStopped: async (deployment, statuses) => (await containers({ label: [`${LABEL.deployment}=${deployment}`], status: statuses })).map(({ id, name }) => ({ id, name })),
        recentLogs: (id, lines) => recentLogs(container(id), lines),
        // No condition: a VCH speaks API 1.25, older than the parameter (1.30); its default is not-running.
        wait: async (id, signal) => (await container(id).wait({ abortSignal: signal })).StatusCode,
        remove: (containers, networks, volumes) => removeObjects(docker, containers, networks, volumes),
        getFile: (id, path) => getFile(container(id), path),
        getFiles: (id, dir) => getFiles(container(id), dir),
        putFile: (id, dir, name, content, options) => putFile(container(id), dir, name, content, options),
        hasPath: (id, path) => hasPath(container(id), path),
        processOwner: (id) => processOwner(container(id)),
        exec: async (id, cmd, user) => {
            const exec = await container(id).exec({ Cmd: cmd, User: user, AttachStdout: true, AttachStderr: true });
            const output = await new Promise((resolve, reject) => {
                exec.start({ hijack: true, stdin: false }, (error, stream) => {
                    if (error || !stream)
                        return reject(error ?? new Error('no output stream'));
                    const chunks = [];
                    stream.on('data', (chunk) => chunks.push(chunk));
                    stream.on('end', () => resolve(demultiplex(Buffer.concat(chunks))));
                    stream.on('error', reject);
                });
            });
            const { ExitCode } = await exec.inspect();
            return { exitCode: ExitCode, output };
        },
        signal: async (id, signal) => {
            await container(id).kill({ signal });
        },
        processes: (id, psArgs) => container(id).top({ ps_args: psArgs }),
        removeContainer: (id) => container(id)
            .remove({ force: true })
            .then(() => true, (error) => {
            if (error.statusCode === 404)
                return false;
            throw error;
        }),
        imageId: async (reference) => {
            try {
                return (await docker.getImage(reference).inspect()).Id;
            }
            catch (error) {
                if (error.statusCode === 404)
                    return undefined;
                throw error;
            }
        },
        anyImageId: async () => (await docker.listImages())[0]?.Id,
        pull: (reference, registryAuth, onStatus, signal) => followPull(docker, reference, registryAuth, onStatus, signal),
    };
}
// Registries report refusals INSIDE a 200 progress stream, so every event is checked, not only the
// HTTP status. A cancelled run closes the pull's connection, which stops the pull on the host too.
async function followPull(docker, reference, registryAuth, onStatus, signal) {
    const options = registryAuth ? { authconfig: { base64: registryAuth } } : {};
    signal?.throwIfAborted();
    const stream = (await docker.pull(reference, { ...options, abortSignal: signal }));
    await new Promise((resolve, reject) => {
        const onAbort = () => {
            stream.destroy();
            reject(signal.reason);
        };
        if (signal?.aborted)
            return onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        docker.modem.followProgress(stream, (error) => (error ? reject(error) : resolve()), (event) => {
            if (event.error || event.errorDetail) {
                stream.destroy();
                reject(new Error(event.errorDetail?.message ?? event.error));
            }
            else if (event.status && !event.status.startsWith('Downloading') && !event.status.startsWith('Extracting')) {
                onStatus(`${event.id ? `${event.id}: ` : ''}${event.status}`);
            }
        });
    });
}

;// CONCATENATED MODULE: ./src/docker/images.ts

// The image's ID on the host, pulled first as the policy says. With 'missing' and 'never' an image
// the host has is taken as it is: no registry is asked. Nor is one for an image the host built or
// loaded itself (HostProfile.localImageNamespace).
async function obtainImage(host, reference, { policy, auth, signal, localImageNamespace }, log) {
    const local = localImageNamespace && !namesRegistry(reference) ? await host.imageId(`${localImageNamespace}${reference}`).catch(() => undefined) : undefined;
    if (local) {
        log(`${reference}: the host's own image ${localImageNamespace}${reference}, from no registry: not pulled`);
        return { reference, id: local };
    }
    if (policy !== 'always') {
        const id = await host.imageId(reference).catch(() => undefined);
        if (id)
            return { reference, id };
        if (policy === 'never')
            throw new Error(`Image ${reference} is not on the Docker host, and pull is 'never'. Put it there first (docker pull or docker load against that host), or set pull to 'missing'.`);
    }
    return pullImage(host, reference, auth, log, signal);
}
// Whether a reference starts with a registry: a first path component with a dot or a port, or
// localhost, as Docker reads it.
function namesRegistry(reference) {
    const [first, ...rest] = reference.split('/');
    return rest.length > 0 && (/[.:]/.test(first) || first === 'localhost');
}
// Pull an image and return its ID. An image already on the host is good enough when the pull fails
// (an offline host, a registry outage), with a warning.
async function pullImage(host, reference, auth, log, signal) {
    let pullError;
    try {
        await host.pull(reference, auth?.header, (status) => log(`${reference}: ${status}`), signal);
    }
    catch (error) {
        if (signal?.aborted)
            throw signal.reason;
        pullError = describe(error);
    }
    const id = await host.imageId(reference).catch(() => undefined);
    if (id && !pullError)
        return { reference, id };
    if (id)
        return { reference, id, warning: `Could not pull ${reference} (${pullError}); using the copy already on the Docker host.` };
    throw new Error(`Could not pull image ${reference}: ${pullError}. Check the image name and tag, that the Docker host can reach its registry, and registry-username/registry-password for a private image.`);
}

;// CONCATENATED MODULE: ./src/docker/resources.ts

// instance-memory and instance-cpus as each kind of host takes them (HostProfile.instanceSize). A Docker Engine or Podman
// limits the container (cgroups). A VCH sizes the containerVM instead: Memory in MiB rounded up to
// 128 (at least 512), vCPUs from CPUCount only (NanoCpus is ignored there).
const MIB = 1024 ** 2;
const VCH_MEMORY_STEP_MIB = 128;
const VCH_MEMORY_MIN_MIB = 512;
// `input`: where the memory was given, for the error (a companion service's sizes as instances').
function instanceResources({ memoryBytes, cpus }, host, input = 'instance-memory') {
    const resources = {};
    if (host.instanceSize === 'cgroup-limits') {
        if (memoryBytes)
            resources.Memory = memoryBytes;
        if (cpus)
            resources.NanoCpus = Math.round(cpus * 1e9);
        return resources;
    }
    if (memoryBytes) {
        const mib = Math.ceil(memoryBytes / MIB / VCH_MEMORY_STEP_MIB) * VCH_MEMORY_STEP_MIB;
        if (mib < VCH_MEMORY_MIN_MIB)
            throw new InputError(`Invalid ${input} for a VCH: each ${input === 'instance-memory' ? 'instance' : 'container'} is a VM there, with at least ${VCH_MEMORY_MIN_MIB} MiB. Give '${VCH_MEMORY_MIN_MIB}m' or more.`);
        resources.Memory = mib * MIB;
    }
    // A VM has whole vCPUs: a fraction rounds up, so an instance never gets less than was asked.
    if (cpus)
        resources.CPUCount = Math.ceil(cpus);
    return resources;
}
// What each instance gets, for the log: a VCH rounds what it was given.
function describeResources(resources, host) {
    const parts = [
        resources.Memory ? `${resources.Memory / MIB} MiB` : '',
        resources.NanoCpus ? `${resources.NanoCpus / 1e9} CPU(s)` : '',
        resources.CPUCount ? `${resources.CPUCount} vCPU(s)` : '',
    ].filter(Boolean);
    if (parts.length === 0)
        return undefined;
    return host.instanceSize === 'containerVM'
        ? `Each instance is a containerVM with ${parts.join(' and ')}`
        : `Each instance is limited to ${parts.join(' and ')}`;
}

;// CONCATENATED MODULE: ./src/owner.ts


// GitHub compares repository names case-insensitively; GITHUB_REPOSITORY spells them as the
// repository does today, `--owner` as a person typed it.
function sameOwner(a, b) {
    return a.toLowerCase() === b.toLowerCase();
}
// Pure: from the owner labels of a deployment's objects, '' for an object without one.
function ownershipOf(owners, owner) {
    if (owners.length === 0)
        return { kind: 'none' };
    const labelled = owners.filter(Boolean);
    const other = labelled.find((o) => !sameOwner(o, owner));
    if (other !== undefined)
        return { kind: 'foreign', owner: other };
    return labelled.length > 0 ? { kind: 'ours' } : { kind: 'unowned' };
}
// The owner labels of the deployment's containers, networks and volumes. A lock counts only when another
// owner holds it (its first deploy may be under way with nothing else created yet): under the
// lock, the caller's own lock says nothing about whose the deployment is.
function ownersIn({ containers, networks, volumes }, owner) {
    return [...containers, ...networks, ...volumes]
        .filter((o) => o.labels[LABEL.role] !== 'lock' || !sameOwner(o.labels[LABEL.owner] ?? '', owner))
        .map((o) => o.labels[LABEL.owner] ?? '');
}
// What each operation says it did not do, and what to do instead, for `name`, the repository
// part of the caller's owner.
const REFUSAL = {
    deploy: (deployment, owner, name) => `Nothing was changed. Two repositories cannot share a deployment name: choose an instance-prefix and lb-name for ${owner} that include its repository name, e.g. '${name}-${deployment}' and '${name}-${deployment}-lb'.`,
    teardown: (deployment, owner, name) => `Nothing was removed. Give the instance-prefix ${owner} deployed under (e.g. '${name}-${deployment}'), or tear '${deployment}' down from its own repository.`,
};
// Reads only: called before the lock (so a refused run waits for nobody) and again under it (a
// run of another owner may have created the deployment meanwhile). Throws when it is another
// owner's; otherwise says whether it is new, the caller's, or from before owner labels.
async function checkOwner(host, deployment, owner, operation) {
    return checkOwnershipOf(await listDeployment(host, deployment), deployment, owner, operation);
}
// The same for objects already listed.
function checkOwnershipOf(objects, deployment, owner, operation) {
    const ownership = ownershipOf(ownersIn(objects, owner), owner);
    if (ownership.kind !== 'foreign')
        return ownership;
    throw new Error(`Deployment '${deployment}' on the Docker host belongs to ${ownership.owner}, and this ${operation} is for ${owner}. ` +
        `${REFUSAL[operation](deployment, owner, owner.split('/').pop())} ` +
        `If ${owner} is ${ownership.owner} renamed or transferred, set the input owner to '${ownership.owner}'.`);
}

;// CONCATENATED MODULE: ./src/recover.ts



// A run killed while it replaced the load-balancer (steps/own-load-balancer.ts standAside) and
// whose post step never ran (a runner that died) leaves `<lb>-next` (the replacement, not started)
// or `<lb>-old` (the previous load-balancer, stopped, kept to fall back on). The next run of the
// deployment, holding its lock, puts that right before it plans: a complete replacement is kept,
// otherwise the previous load-balancer serves again; then the deploy goes on as usual.
// `containers` are the deployment's, as listed under the lock; says whether it changed any.
async function settleInterruptedReplacement(host, containers, lbName) {
    const named = (name) => containers.find((c) => c.name === name && c.labels[LABEL.role] === 'lb');
    const [current, next, old] = [named(lbName), named(`${lbName}-next`), named(`${lbName}-old`)];
    if (!next && !old)
        return false;
    const fail = (what) => (error) => {
        throw new Error(`Could not settle the load-balancer replacement an interrupted run left (${what}): ${describe(error)}. Run teardown, or remove ${lbName}-next and ${lbName}-old by hand.`);
    };
    // Removed like any object of a failed run, but here a failure stops the deploy.
    const remove = async (id) => {
        const [failure] = await host.remove([id], []);
        if (failure)
            throw new Error(failure);
    };
    if (next) {
        await remove(next.id).catch(fail(`removing ${lbName}-next`));
        log_log.info(`Removed ${lbName}-next, a replacement load-balancer an interrupted run had not started`);
    }
    if (!old)
        return true;
    // `<lb>` beside `<lb>-old` is a replacement that was complete (created, connected, configured):
    // it is started (its start may even have been under way) and checked like any kept one. Only if
    // it cannot start does the previous load-balancer serve again.
    if (current) {
        const started = await host.start(current.id).then(() => true, (error) => {
            log_log.info(`The replacement load-balancer ${lbName} an interrupted run left does not start (${describe(error)}); removing it`);
            return false;
        });
        if (started) {
            await remove(old.id).catch(fail(`removing ${lbName}-old`));
            log_log.info(`Removed ${lbName}-old: an interrupted run had replaced it, and its replacement runs`);
            return true;
        }
        await remove(current.id).catch(fail(`removing the replacement ${lbName} that does not start`));
    }
    await host.rename(old.id, lbName).catch(fail(`renaming ${lbName}-old back`));
    await host.start(old.id).catch(fail(`starting ${lbName} again`));
    log_log.info(`Started the previous load-balancer ${lbName} again: an interrupted run had stopped it to replace it`);
    return true;
}
// The load-balancer (or a companion service) a replacement stopped, started again under its own
// name: for the undo of a failed or cancelled run, and for the post step of a killed one.
async function restartReplaced(host, container, name, what = 'load-balancer') {
    const { Name } = await host.inspect(container);
    if (Name.replace(/^\//, '') !== name)
        await host.rename(container, name);
    await host.start(container);
    log_log.info(`Started the previous ${what} ${name} again`);
}

;// CONCATENATED MODULE: ./src/plan.ts


function shortHash(values) {
    return (0,external_node_crypto_.createHash)('sha256').update(JSON.stringify(values)).digest('hex').slice(0, 8);
}
// The generation of everything the instances run with but the secret-env values: those are not
// hashed, since the hash is stored in labels. A deployment without any instance configuration
// keeps the generation it had before there was one.
function generationOf(imageId, instancePort, config) {
    if (!config || isDefault(config))
        return shortHash([imageId, instancePort]);
    const { env, secretEnv, command, memoryBytes, cpus } = config;
    return shortHash([imageId, instancePort, { env, secretKeys: secretEnv.map((v) => v.key), command, memoryBytes, cpus }]);
}
function isDefault(config) {
    return config.env.length + config.secretEnv.length === 0 && !config.command && !config.memoryBytes && !config.cpus;
}
// With secret-env, instances of the same settings generation may hold other secret values. A
// generation of such instances is `<settings>-<nonce>`; the caller compares the secret values of
// the running ones it lists here (in memory, see deploy.ts) and passes which one holds them.
function generationsWithSettings(state, settingsGeneration) {
    const generations = state.instances.filter((i) => i.running && i.generation.startsWith(`${settingsGeneration}-`)).map((i) => i.generation);
    return [...new Set(generations)];
}
function generationWithSecrets(settingsGeneration, matching, nonce) {
    return matching ?? `${settingsGeneration}-${nonce}`;
}
// Whether a container's environment (Config.Env) holds exactly these values.
function holdsValues(containerEnv, vars) {
    const present = new Set(containerEnv);
    return vars.every((v) => present.has(`${v.key}=${v.value}`));
}
// HTTPS is part of the load-balancer's spec, so that turning it off leaves no certificate behind;
// the redirect port is published like lb-port. Each is hashed only when present, so that a
// load-balancer without them keeps the spec it had before they existed.
function lbSpecOf(haproxyImageId, externalNetwork, lbPort, https = false, httpRedirectPort) {
    return shortHash([haproxyImageId, externalNetwork, lbPort, ...(https ? ['https'] : []), ...(httpRedirectPort ? [{ httpRedirectPort }] : [])]);
}
function planDeploy(desired, state) {
    const { generation } = desired;
    const wanted = new Map();
    for (let index = 1; index <= desired.instances; index++)
        wanted.set(instanceName(desired.deployment, generation, index), index);
    const removeFirst = [];
    const removeAfter = [];
    const kept = new Set();
    for (const instance of state.instances) {
        if (wanted.has(instance.name) && instance.running)
            kept.add(instance.name);
        else if (wanted.has(instance.name) || !instance.running)
            removeFirst.push(instance);
        else
            removeAfter.push(instance);
    }
    const create = [...wanted].filter(([name]) => !kept.has(name)).map(([name, index]) => ({ name, index }));
    const lb = !state.lb ? 'create' : state.lb.running && state.lb.spec === desired.lbSpec && state.lb.name === desired.lbName ? 'keep' : 'replace';
    return {
        generation,
        createNetwork: !state.networks.some((n) => n.name === networkName(desired.deployment)),
        removeFirst,
        create,
        serving: [...wanted.keys()].map((name) => ({ name, port: desired.instancePort })),
        removeAfter,
        lb,
    };
}

// EXTERNAL MODULE: external "node:tls"
var external_node_tls_ = __webpack_require__(1692);
;// CONCATENATED MODULE: ./src/cancel.ts

// The runner cancels a step by sending SIGINT, then SIGTERM 7.5 s later, then SIGKILL 2.5 s after
// that; the post step runs anyway. The first signal aborts the run's AbortSignal: whatever waits
// (a pull, the lock, readiness) stops at once and the deploy takes back what it created. A
// second signal changes nothing: the undo goes on, and if SIGKILL cuts it short the post step
// (post.ts) finishes it.
class CancelledError extends Error {
}
// Until stop() is called; the signal is aborted by the first SIGINT or SIGTERM.
function cancelOnSignals() {
    const controller = new AbortController();
    const onSignal = (signal) => {
        if (controller.signal.aborted) {
            log_log.info(`Received ${signal} again: still taking back what this run changed.`);
            return;
        }
        log_log.warning(`Received ${signal}: the run is cancelled. Stopping now and taking back what it changed.`);
        controller.abort(new CancelledError(`The run was cancelled (${signal}). What it had changed on the Docker host was taken back; a deployment that served before goes on serving.`));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    return {
        signal: controller.signal,
        stop: () => {
            process.off('SIGINT', onSignal);
            process.off('SIGTERM', onSignal);
        },
    };
}
// Waits ms, or until the run is cancelled (then rejects with the cancellation).
function sleep(ms, signal) {
    return new Promise((resolve, reject) => {
        if (signal?.aborted)
            return reject(signal.reason);
        const onAbort = () => {
            clearTimeout(timer);
            reject(signal.reason);
        };
        const timer = setTimeout(() => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
        }, ms);
        signal?.addEventListener('abort', onAbort, { once: true });
    });
}
// The promise's outcome, or the cancellation as soon as it comes: for waits that cannot be told to
// stop (connecting to the Docker host, with its retries), which create nothing on the host. What
// they leave running ends with the process (index.ts exits once a cancelled run is done).
function untilCancelled(promise, signal) {
    if (signal.aborted)
        return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
        const onAbort = () => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
}

;// CONCATENATED MODULE: ./src/haproxy/stats.ts
// HAProxy's own view of its servers, from the stats page's CSV export (`<stats uri>;csv`).
function parseStatsCsv(csv) {
    const [header, ...rows] = csv.split('\n').filter((line) => line.trim() !== '');
    if (!header?.startsWith('# '))
        throw new Error('not an HAProxy stats CSV export');
    const columns = header.slice(2).split(',');
    const at = (name) => {
        const i = columns.indexOf(name);
        if (i < 0)
            throw new Error(`HAProxy stats CSV has no '${name}' column`);
        return i;
    };
    const [backend, server, status, checkStatus] = [at('pxname'), at('svname'), at('status'), at('check_status')];
    return rows
        .map((row) => row.split(','))
        .filter((cells) => cells[server] !== 'FRONTEND' && cells[server] !== 'BACKEND')
        .map((cells) => ({ backend: cells[backend], server: cells[server], status: cells[status], checkStatus: cells[checkStatus] }));
}
// A server counts as healthy only once a health check has really passed: HAProxy starts servers
// as UP before it has checked them.
function isHealthy(status) {
    return status.status === 'UP' && /^L\dOK$/.test(status.checkStatus);
}
// `admitted` servers passed their checks moments ago (as candidates, before a reload): UP before
// the new worker's first check is enough for them, as the worker sends them traffic meanwhile anyway.
function unhealthyServers(statuses, backend, expected, admitted = []) {
    return expected.filter((name) => {
        const status = statuses.find((s) => s.backend === backend && s.server === name);
        return !status || !(isHealthy(status) || (admitted.includes(name) && status.status === 'UP' && /^(\* )?INI$/.test(status.checkStatus)));
    });
}
function describeServer(statuses, backend, name) {
    const status = statuses.find((s) => s.backend === backend && s.server === name);
    return status ? `${status.status} (last check: ${status.checkStatus || 'none'})` : 'not in the load-balancer yet';
}

;// CONCATENATED MODULE: ./src/haproxy/stats-certificate.ts

// Node makes keys and signatures but no certificate, so this DER-encodes the one certificate the
// action needs (X.509 v1, ECDSA P-256 with SHA-256) rather than bundle an ASN.1/X.509 library.
function newStatsCertificate(commonName) {
    const { privateKey, publicKey } = (0,external_node_crypto_.generateKeyPairSync)('ec', { namedCurve: 'P-256' });
    const serial = (0,external_node_crypto_.randomBytes)(16);
    serial[0] = (serial[0] & 0x7f) | 0x40; // positive, and no leading zero byte to trim
    const name = der(SEQUENCE, der(SET, der(SEQUENCE, COMMON_NAME, der(UTF8_STRING, Buffer.from(commonName)))));
    const tbs = der(SEQUENCE, der(INTEGER, serial), ECDSA_WITH_SHA256, name, 
    // From a day back (the Docker host's clock may be behind the runner's) to no end: the
    // certificate is pinned, and a kept load-balancer may serve for years.
    der(SEQUENCE, time(new Date(Date.now() - 86_400_000)), time(new Date('9999-12-31T23:59:59Z'))), name, publicKey.export({ type: 'spki', format: 'der' }));
    const signature = (0,external_node_crypto_.sign)('sha256', tbs, { key: privateKey, dsaEncoding: 'der' });
    const body = der(SEQUENCE, tbs, ECDSA_WITH_SHA256, der(BIT_STRING, Buffer.from([0]), signature));
    const base64 = body
        .toString('base64')
        .match(/.{1,64}/g)
        .join('\n');
    const certificate = `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n`;
    return { pem: certificate + privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), certificate, inside: false };
}
const [INTEGER, BIT_STRING, UTF8_STRING, UTC_TIME, GENERALIZED_TIME, SEQUENCE, SET] = [0x02, 0x03, 0x0c, 0x17, 0x18, 0x30, 0x31];
// OIDs 1.2.840.10045.4.3.2 (in an AlgorithmIdentifier without parameters) and 2.5.4.3.
const ECDSA_WITH_SHA256 = der(SEQUENCE, Buffer.from('06082a8648ce3d040302', 'hex'));
const COMMON_NAME = Buffer.from('0603550403', 'hex');
function der(tag, ...content) {
    const body = Buffer.concat(content);
    const n = body.length;
    const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
    return Buffer.concat([Buffer.from([tag, ...length]), body]);
}
// RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
function time(date) {
    const digits = date
        .toISOString()
        .replace(/\.\d+Z$/, 'Z')
        .replace(/[-:T]/g, '');
    const year = date.getUTCFullYear();
    return year < 2050 ? der(UTC_TIME, Buffer.from(digits.slice(2))) : der(GENERALIZED_TIME, Buffer.from(digits));
}
// The certificate (and key) in a PEM that holds both, as HAProxy's `crt` file does.
function certificateIn(pem) {
    return /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n?/.exec(pem)?.[0];
}
// A kept load-balancer keeps its certificate (pem, read from it); a new one, or one made before the stats page had
// TLS, gets a new one (switch.ts puts it into a kept one before the reload that needs it).
function statsCertificateFor(pem, commonName) {
    const certificate = pem && certificateIn(pem);
    return pem && certificate ? { pem, certificate, inside: true } : newStatsCertificate(commonName);
}
// TLS options that accept the stats page's own certificate and no other: the chain must end at it
// (ca), and, its name aside (a load-balancer's address is known only once it runs), the server's
// certificate must be exactly it.
function pinnedTo(certificate) {
    const expected = new external_node_crypto_.X509Certificate(certificate).fingerprint256;
    return {
        ca: [certificate],
        checkServerIdentity: (host, served) => served.fingerprint256 === expected
            ? undefined
            : new Error(`${host} served a certificate (SHA-256 ${served.fingerprint256}) other than the load-balancer's stats certificate (SHA-256 ${expected})`),
    };
}

;// CONCATENATED MODULE: ./src/ingress/config.ts

// A proxy name takes only [A-Za-z0-9_.:-]. An instance-prefix is [A-Za-z0-9][A-Za-z0-9_-]*, at
// most 40 characters (inputs.ts), so these names are always valid; their colon keeps them apart
// from the frontends' names (service, stats, http-redirect), which HAProxy 3.3+ requires.
function servingBackendOf(deployment) {
    return `r:${deployment}`;
}
// The route's new instances, health-checked without traffic until the deploy moves them to serving.
function candidateBackendOf(deployment) {
    return `c:${deployment}`;
}
const ingressConfig = configForms(config_render);
// What the ingress loads.
const renderIngressConfig = ingressConfig.text;
// What `haproxy -c` checks inside the ingress before a reload: no server name looked up, as renderConfigToCheck.
const renderIngressConfigToCheck = ingressConfig.toCheck;
// Pure: the id renderIngressConfig(config) carries on every answer of its stats page (CONFIG_ID_HEADER).
const ingressConfigIdOf = ingressConfig.idOf;
// The request's host name: the Host header (HAProxy turns HTTP/2's :authority into one), without
// its port, lower-cased as DNS compares names.
const HOST_VAR = 'txn.host';
// What a request for a name no route has gets: it names no preview and no host name. The header
// tells readiness (readiness.ts) this answer from an application's own 404.
const NOT_ROUTED_BODY = 'No preview here.';
const NOT_ROUTED_HEADER = 'x-vic-lb-not-routed';
function config_render(config, initAddr) {
    // By code unit, not locale: the same text whatever order the records were read in, on any runner.
    const routes = [...config.routes].sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));
    return configText([
        ...leadingSections(config, config.drainTimeout, {
            // HTTP only: routing reads the host name.
            protocol: 'http',
            // The client side belongs to the one service frontend, whichever route a request takes, so
            // it waits as long as the slowest route's answer may take; each route's backend still cuts
            // its own answers at its own response timeout (timeout server). With no route every request
            // is answered at once (404), and the time to send one is enough.
            clientTimeout: routes.length > 0 ? Math.max(...routes.map((route) => route.timeouts.response)) : HTTP_REQUEST_TIMEOUT_S,
            // No serverTimeouts: each route's backend has its own.
            initAddr,
        }),
        serviceFrontend(config, routes),
        // allow-cidrs is a route's, and the redirect looks at no route: a client of another source is
        // redirected, then refused over HTTPS (403).
        ...(config.redirectListenPort ? [redirectToHttps(config.redirectListenPort, config.servicePort, [])] : []),
        ...routes.flatMap(routeBackends),
    ]);
}
function serviceFrontend(config, routes) {
    const notRouted = `    http-request return status 404 content-type text/plain string "${NOT_ROUTED_BODY}" hdr ${NOT_ROUTED_HEADER} 1`;
    // Every request gets that answer: HAProxy warns of any rule after it, which could never run.
    if (routes.length === 0)
        return ['frontend service', serviceBind(config), notRouted];
    return [
        'frontend service',
        serviceBind(config),
        `    http-request set-var(${HOST_VAR}) req.hdr(host),lower,field(1,:)`,
        // One line per route (HAProxy takes at most 64 words on a line): lines of one ACL name add up.
        ...routes.map((route) => `    acl routed var(${HOST_VAR}) -m str ${route.hostname}`),
        // An http-request rule: HAProxy evaluates use_backend only after all of them.
        `${notRouted} unless routed`,
        ...forwardingRules(config),
        ...routes.map((route) => `    use_backend ${servingBackendOf(route.deployment)} if { var(${HOST_VAR}) -m str ${route.hostname} }`),
    ];
}
// The route's own timeouts, health check and (serving only) allow-cidrs. allow-cidrs is checked in
// the backend, which gets only the requests routed to it: ACL names belong to their proxy, so
// each backend's allowed_source is its own, rendered as the own load-balancer's frontend has it;
// in the shared frontend each route would need an ACL name of its own combined with its host
// match. `acl` and `http-request deny` in a backend are accepted alike by 2.6 and 3.0.
function routeBackends(route) {
    const check = { protocol: 'http', healthCheckPath: route.healthCheckPath };
    const timeouts = serverTimeoutLines(route.timeouts);
    return [
        backend(servingBackendOf(route.deployment), route.serving, check, [
            ...timeouts,
            ...sourceCheck({ allowedSources: route.allowedSources, protocol: 'http' }),
        ]),
        ...(route.candidates.length > 0 ? [backend(candidateBackendOf(route.deployment), route.candidates, check, [...timeouts, CANDIDATE_CHECK])] : []),
    ];
}

;// CONCATENATED MODULE: ./src/readiness.ts










class NotReadyError extends Error {
    statuses;
    unhealthy;
    constructor(message, statuses, unhealthy) {
        super(message);
        this.statuses = statuses;
        this.unhealthy = unhealthy;
    }
}
const POLL_MS = 100;
const REQUEST_TIMEOUT_MS = 2_000;
// A short wait says nothing; a long one says what it waits for this often.
const PROGRESS_EVERY_MS = 3_000;
// Instances named in one progress line; the rest are counted.
const PROGRESS_NAMES = 5;
async function waitUntilServing(endpoints, expectation) {
    let statuses = [];
    let problem = 'no answer yet';
    let lastProgress = Date.now();
    const { signal } = expectation;
    for (;;) {
        // Set when instances are what the wait is for: then progress names them.
        let waitingFor;
        try {
            const stats = await fetchStats(endpoints, signal);
            statuses = parseStatsCsv(stats.csv);
            const unhealthy = unhealthyServers(statuses, expectation.backend, expectation.servers, expectation.admitted);
            if (expectation.configId && stats.configId !== expectation.configId)
                problem = 'the load-balancer has not loaded its new configuration';
            else if (unhealthy.length > 0) {
                problem = `${unhealthy.length} of ${expectation.servers.length} instances not healthy yet`;
                waitingFor = instancesProgress(statuses, expectation, unhealthy);
            }
            else if (!expectation.throughService || (await serviceAnswers(endpoints, signal)))
                return statuses;
            else
                problem = `the service port ${endpoints.servicePort} does not answer`;
        }
        catch (error) {
            problem = `the load-balancer's stats page does not answer (${error.message})`;
        }
        signal?.throwIfAborted();
        await expectation.check?.();
        if (Date.now() >= expectation.deadline)
            throw new NotReadyError(`Timed out waiting for the deployment to become ready: ${problem}.`, statuses, unhealthyServers(statuses, expectation.backend, expectation.servers));
        if (Date.now() - lastProgress >= (expectation.progressEveryMs ?? PROGRESS_EVERY_MS)) {
            log_log.progress(waitingFor ?? `Waiting: ${problem}`);
            lastProgress = Date.now();
        }
        await sleep(POLL_MS, signal);
    }
}
function instancesProgress(statuses, { backend, servers }, unhealthy) {
    const named = unhealthy.slice(0, PROGRESS_NAMES).map((name) => `${name}: ${describeServer(statuses, backend, name)}`);
    const more = unhealthy.length > PROGRESS_NAMES ? ` and ${unhealthy.length - PROGRESS_NAMES} more` : '';
    return `${servers.length - unhealthy.length} of ${servers.length} instances healthy; waiting for ${named.join(', ')}${more}`;
}
// The stats CSV, and the id of the configuration of the worker that answered.
async function fetchStats(endpoints, signal) {
    const response = await get(`${endpoints.statsUrl};csv`, signal, {
        headers: { authorization: endpoints.statsAuthorization },
        tls: pinnedTo(endpoints.statsCertificate),
    });
    const status = response.statusCode ?? 0;
    if (status < 200 || status > 299) {
        response.destroy();
        throw new Error(`HTTP ${status}`);
    }
    let csv = '';
    for await (const chunk of response.setEncoding('utf8'))
        csv += chunk;
    return { csv, configId: response.headers[CONFIG_ID_HEADER] };
}
// HAProxy itself answers 502/503/504 when it has nothing healthy to send a request to.
async function serviceAnswers(endpoints, signal) {
    if (endpoints.protocol === 'tcp')
        return tcpConnects(endpoints.serviceHost, endpoints.servicePort);
    const fingerprint = endpoints.certificateFingerprint;
    try {
        const { serviceName, serviceAuthorization } = endpoints;
        const headers = { ...(serviceName ? { host: serviceName } : {}), ...(serviceAuthorization ? { authorization: serviceAuthorization } : {}) };
        const tlsOptions = { rejectUnauthorized: false, ...(serviceName ? { servername: serviceName } : {}) };
        const response = await get(`${fingerprint ? 'https' : 'http'}://${hostForUrl(endpoints.serviceHost)}:${endpoints.servicePort}/`, signal, {
            headers,
            tls: tlsOptions,
        });
        const certified = !fingerprint || response.socket.getPeerCertificate().fingerprint256 === fingerprint;
        response.destroy();
        // The ingress answering for no route is not this deployment serving (not yet routed by the worker that answered).
        return certified && ![502, 503, 504].includes(response.statusCode ?? 0) && response.headers[NOT_ROUTED_HEADER] === undefined;
    }
    catch {
        return false;
    }
}
// One GET on a connection of its own (none outlives a reload of the load-balancer), resolved at the
// response's head; a redirect is an answer, not followed. Over HTTPS the stats page is pinned to its
// certificate (tls); the service's certificate is the user's, for the service's public name, and
// may be self-signed, so it is accepted here and the caller compares its fingerprint instead.
function get(url, signal, { headers = {}, tls = { rejectUnauthorized: false } } = {}) {
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    const options = { headers, agent: false, signal: signal ? AbortSignal.any([timeout, signal]) : timeout };
    return new Promise((resolve, reject) => {
        const request = url.startsWith('https:') ? external_node_https_.get(url, { ...options, ...tls }, resolve) : external_node_http_.get(url, options, resolve);
        request.on('error', (error) => reject(timeout.aborted ? new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`) : error));
    });
}
// Until HAProxy in a load-balancer that was just started again completes a TLS handshake on its stats
// port, at most timeoutMs: it binds all its listeners at once, so then it serves the service port
// too. A connection alone proves nothing where ports are published: the engine's proxy accepts it
// before HAProxy listens, and closes it. Whose certificate it is does not matter here.
async function waitUntilListening(host, statsPort, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (!(await handshakes(host, statsPort))) {
        if (Date.now() >= deadline)
            return false;
        await sleep(POLL_MS);
    }
    return true;
}
function handshakes(host, port) {
    return connects(external_node_tls_.connect({ host, port, rejectUnauthorized: false, timeout: REQUEST_TIMEOUT_MS }), 'secureConnect');
}
function tcpConnects(host, port) {
    return connects(external_node_net_.connect({ host, port, timeout: REQUEST_TIMEOUT_MS }), 'connect');
}
// Whether the socket gets to `made` before an error or its timeout; it is closed either way.
function connects(socket, made) {
    return new Promise((resolve) => {
        const finish = (ok) => {
            socket.destroy();
            resolve(ok);
        };
        socket.once(made, () => finish(true));
        socket.once('timeout', () => finish(false));
        socket.once('error', () => finish(false));
    });
}
function hostForUrl(host) {
    return host.includes(':') ? `[${host}]` : host;
}

;// CONCATENATED MODULE: ./src/state-helper.ts

// What the post step (post.ts) needs from the main step, kept with core.saveState: the runner
// hands it to the post step as STATE_<name> variables, the last value of each name. The main step
// writes a value when it takes something on and empties it once that is settled, so a main step
// that was killed leaves exactly what is still to be settled.
const LOCKS = 'locks';
const DEPLOY = 'deploy';
const GITHUB_DEPLOYMENT = 'github-deployment';
const held = new Map();
function rememberLock(lock) {
    held.set(lock.id, lock);
    core.saveState(LOCKS, JSON.stringify([...held.values()]));
}
function forgetLock(id) {
    held.delete(id);
    core.saveState(LOCKS, JSON.stringify([...held.values()]));
}
function rememberDeploy(deploy) {
    core.saveState(DEPLOY, deploy ? JSON.stringify(deploy) : '');
}
function rememberGitHubDeployment(pending) {
    core.saveState(GITHUB_DEPLOYMENT, pending ? JSON.stringify(pending) : '');
}
function leftGitHubDeployment() {
    return parse(GITHUB_DEPLOYMENT);
}
function leftLocks() {
    return parse(LOCKS) ?? [];
}
function leftDeploy() {
    return parse(DEPLOY);
}
function parse(name) {
    const value = core.getState(name);
    return value ? JSON.parse(value) : undefined;
}

;// CONCATENATED MODULE: ./src/steps/context.ts


// One deploy's changes to the Docker host, remembered so that a failure takes back exactly
// what this run created and puts the load-balancer's previous configuration back.
class UndoRecord {
    keep;
    changed = false;
    createdContainers = [];
    createdNetworks = [];
    createdVolumes = [];
    // Companion services' containers this run stopped and put aside to replace them (by ID, with
    // the name they ran under): started again by the undo, removed once traffic has moved.
    replacedServices = [];
    // What a kept load-balancer had before this run changed it, for the undo (in memory only).
    previousConfig;
    replacedLb;
    // The kept load-balancer's HAProxy workers from before the final reload, which may still send
    // requests to the instances that leave (undefined where the host cannot list them).
    drain;
    // What the post step must take back should this process be killed (state-helper.ts).
    unsettled;
    constructor(settings, keep = rememberDeploy) {
        this.keep = keep;
        this.unsettled = { deployment: settings.instancePrefix, lbName: settings.lbName, run: THIS_RUN };
    }
    remember(change) {
        this.unsettled = { ...this.unsettled, ...change };
        this.keep(this.unsettled);
    }
    // Traffic has moved, or the undo is done: nothing is left for the post step.
    settled() {
        this.keep(undefined);
    }
}

;// CONCATENATED MODULE: ./src/haproxy/reload.ts



// A running load-balancer changes its configuration in place: its own HAProxy checks the new one,
// the file is copied in, and a signal makes the master load it gracefully. Restoring the previous
// configuration (a failed, cancelled or killed deploy) is the same copy and signal.
// The same binary and version that will load the configuration checks it, as the user its master
// runs as (a VCH would run the check as root unless told), without name lookups (Podman's DNS can
// stall for seconds right after containers start; an unresolvable name is no error anyway).
// `text`: the configuration as renderConfigToCheck (or renderIngressConfigToCheck) gives it.
async function checkInside(host, lb, lbName, user, text) {
    const candidate = 'haproxy-candidate.cfg';
    await host.putFile(lb, '/tmp', candidate, text);
    const { exitCode, output } = await host.exec(lb, ['haproxy', '-c', '-f', `/tmp/${candidate}`], user);
    if (exitCode !== 0)
        throw new Error(`HAProxy in ${lbName} rejected the new configuration (haproxy -c exit code ${exitCode}); the running one stays in use:\n${output.trim()}`);
}
// The official image runs HAProxy in master-worker mode: SIGUSR2 reloads it gracefully, and a
// configuration it cannot load leaves the previous worker serving.
async function loadConfig(host, lb, text) {
    await host.putFile(lb, CONFIG_DIR, CONFIG_FILE, text);
    await host.signal(lb, 'SIGUSR2');
}
// After a reload the previous workers finish the requests they have, let go of their idle
// keep-alive clients and exit; until then they may send requests to instances that the new
// configuration no longer lists, so those are removed only once the workers listed before the
// reload have exited (hard-stop-after, which is drain-timeout, ends them at the latest). Where the
// host cannot list a container's processes (a VCH), a fixed time covers the keep-alive timeout
// instead: an old worker's idle client connection may carry one more request until then.
const FIXED_DRAIN_MS = (HTTP_KEEP_ALIVE_S + 1) * 1000;
const DRAIN_POLL_MS = 100;
// The PIDs of the load-balancer's HAProxy workers (its master's children), or undefined where the
// host has no process list (HostProfile.processListArgs).
async function haproxyWorkers(host, lb, processListArgs) {
    if (!processListArgs)
        return undefined;
    return workerPids(await host.processes(lb, processListArgs));
}
async function drainOldWorkers(host, lb, processListArgs, oldWorkers, drainSeconds) {
    const started = Date.now();
    if (oldWorkers) {
        try {
            while (Date.now() - started < drainSeconds * 1000) {
                const running = await haproxyWorkers(host, lb, processListArgs);
                if (![...oldWorkers].some((pid) => running?.has(pid)))
                    return;
                await sleep(DRAIN_POLL_MS);
            }
            return;
        }
        catch {
            // The list stopped answering: wait out what is left of the fixed time.
        }
    }
    await sleep(Math.max(0, FIXED_DRAIN_MS - (Date.now() - started)));
}
// GET /containers/{id}/top with PID, PPID and COMMAND columns. A process whose parent is an HAProxy
// process is a worker (the master is the one whose parent is not, whatever runs as PID 1).
function workerPids(top) {
    const column = (title) => top.Titles?.indexOf(title) ?? -1;
    const [pid, ppid, command] = [column('PID'), column('PPID'), column('COMMAND')];
    if (pid < 0 || ppid < 0 || command < 0)
        throw new Error(`the process list has no PID, PPID or COMMAND column (${top.Titles?.join(', ')})`);
    const haproxy = (top.Processes ?? []).filter((p) => p[command] === 'haproxy');
    const pids = new Set(haproxy.map((p) => p[pid]));
    return new Set(haproxy.filter((p) => pids.has(p[ppid])).map((p) => p[pid]));
}
// Kept inside the load-balancer (it holds the stats credentials, and the certificate's key), for
// the post step of a deploy that was killed before it could put them back itself. A load-balancer
// with a certificate always has one (turning HTTPS on or off replaces the container), so its
// current certificate is kept every time: no stale one from an earlier deploy is ever restored.
async function keepPreviousConfig(host, lb, text, certificate) {
    if (certificate !== undefined)
        await putSecretFile(host, lb, PREVIOUS_CERTIFICATE_FILE, certificate);
    await host.putFile(lb, CONFIG_DIR, PREVIOUS_CONFIG_FILE, text);
}
// Whether there was a previous configuration to restore; its certificate goes back with it.
async function restorePreviousConfig(host, lb) {
    const previous = await host.getFile(lb, `${CONFIG_DIR}/${PREVIOUS_CONFIG_FILE}`);
    if (previous === undefined)
        return false;
    const certificate = await host.getFile(lb, `${CONFIG_DIR}/${PREVIOUS_CERTIFICATE_FILE}`);
    if (certificate !== undefined)
        await putSecretFile(host, lb, CERTIFICATE_FILE, certificate);
    await loadConfig(host, lb, previous);
    return true;
}
// The certificate files a load-balancer holds, and how an error names each.
const CERTIFICATES = {
    service: { file: CERTIFICATE_FILE, what: 'lb-certificate' },
    stats: { file: STATS_CERTIFICATE_FILE, what: "the stats page's certificate" },
};
// Straight from memory into the container, never onto the runner's disk, and readable only by
// the user HAProxy's master runs as (it loads the certificate, also on every reload): whatever
// user the load-balancer container is made to run as.
async function putCertificate(host, lb, which, pem, lbName) {
    const { file, what } = CERTIFICATES[which];
    try {
        await putSecretFile(host, lb, file, pem);
    }
    catch (error) {
        throw new Error(`Could not put ${what} into ${CONFIG_DIR} of load-balancer ${lbName}: ${describe(error)}.`);
    }
}
async function putSecretFile(host, lb, name, content) {
    await host.putFile(lb, CONFIG_DIR, name, content, { mode: 0o400, owner: await host.processOwner(lb) });
}

;// CONCATENATED MODULE: ./src/steps/switch.ts







// Everything a kept load-balancer's reloads need that does not depend on the new instances having
// started: the previous configuration kept for the undo, certificates put in, and both
// configurations checked by its own HAProxy. Runs while the instances start, so that the checks
// (an exec each) are off the deploy's critical path. keptFiles: what its CONFIG_DIR holds.
async function prepareReloads(ctx, lbConfig, state, keptFiles) {
    const { host, settings, plan, record } = ctx;
    if (plan.lb !== 'keep')
        return { changed: false };
    const lb = state.lb.id;
    const current = keptFiles.get(CONFIG_FILE);
    const target = renderHaproxyConfig(lbConfig);
    // A new certificate is put in and loaded by the same graceful reload as a configuration.
    const certificate = settings.certificate && keptFiles.get(CERTIFICATE_FILE);
    const newCertificate = settings.certificate && certificate !== settings.certificate.pem;
    // Unchanged, unless the services' wait (waitForServices) has loaded another configuration since.
    if (current === target && !newCertificate && !record.previousConfig)
        return { changed: false };
    await keepPrevious(ctx, lb, lbConfig, keptFiles);
    if (newCertificate)
        await putCertificate(host, lb, 'service', settings.certificate.pem, settings.lbName);
    const user = (await host.inspect(lb)).Config.User ?? '';
    const newcomers = plan.create.map((i) => lbConfig.serving.find((s) => s.name === i.name));
    const staging = newcomers.length > 0 ? { ...lbConfig, serving: stillServing(ctx, state), candidates: newcomers } : undefined;
    for (const config of staging ? [staging, lbConfig] : [lbConfig]) {
        ctx.signal?.throwIfAborted();
        await checkInside(host, lb, settings.lbName, user, renderConfigToCheck(config));
    }
    return { staging, changed: true };
}
// Before a kept load-balancer's configuration first changes in a run: the previous one is kept for
// the undo (in memory) and for the post step of a killed run (inside it). One made by an earlier
// version of the action gets the stats page's certificate before a configuration that needs it.
async function keepPrevious(ctx, lb, lbConfig, keptFiles) {
    const { host, settings, record } = ctx;
    if (record.previousConfig)
        return;
    ctx.signal?.throwIfAborted();
    const current = keptFiles.get(CONFIG_FILE) ?? '';
    const certificate = settings.certificate && keptFiles.get(CERTIFICATE_FILE);
    record.previousConfig = { lb, text: current, certificate };
    await keepPreviousConfig(host, lb, current, certificate || undefined);
    record.remember({ configChangedOn: lb });
    if (!lbConfig.statsCertificate.inside)
        await putCertificate(host, lb, 'stats', lbConfig.statsCertificate.pem, settings.lbName);
}
// Until the companion services with a port accept connections as the load-balancer's health
// check sees them (SERVICES_BACKEND), before any instance starts. A kept load-balancer first loads
// the services beside what it serves now (checked by its own HAProxy, the previous configuration
// kept for the undo); a new one started with them.
async function waitForServices(ctx, lb, lbConfig, state, keptFiles) {
    const servers = lbConfig.services ?? [];
    const config = ctx.plan.lb === 'keep' ? { ...lbConfig, serving: stillServing(ctx, state), candidates: [] } : lbConfig;
    if (ctx.plan.lb === 'keep' && renderHaproxyConfig(config) !== keptFiles.get(CONFIG_FILE)) {
        await keepPrevious(ctx, lb, lbConfig, keptFiles);
        await checkInside(ctx.host, lb, ctx.settings.lbName, (await ctx.host.inspect(lb)).Config.User ?? '', renderConfigToCheck(config));
        await reload(ctx, lb, config);
    }
    await failIfExited(ctx);
    const { endpoints } = await endpointsOf(ctx, lb, lbConfig, ownServed(ctx));
    await waitFor(ctx, endpoints, configIdOf(config), SERVICES_BACKEND, servers, false);
}
// New instances join through the candidates backend: health-checked first, given traffic only
// once healthy, so a kept load-balancer never sends requests to an instance that is not ready.
async function switchTraffic(ctx, lb, lbConfig, { staging, changed }) {
    const { host, plan, record } = ctx;
    await failIfExited(ctx);
    const { endpoints, address } = await endpointsOf(ctx, lb, lbConfig, ownServed(ctx));
    if (staging) {
        await reload(ctx, lb, staging);
        await waitFor(ctx, endpoints, configIdOf(staging), CANDIDATE_BACKEND, staging.candidates, false);
    }
    if (changed) {
        if (plan.removeAfter.length > 0)
            record.drain = { lb, oldWorkers: await haproxyWorkers(host, lb, ctx.profile.processListArgs).catch(() => undefined) };
        await reload(ctx, lb, lbConfig);
    }
    // The candidates just passed their checks: the new worker need not check them again first.
    return { statuses: await waitFor(ctx, endpoints, configIdOf(lbConfig), SERVING_BACKEND, lbConfig.serving, true, staging?.candidates), address };
}
// Until the workers the final reload replaced (record.drain) no longer send requests to the
// instances that leave.
async function drainRecorded({ host, record, profile, settings }) {
    if (record.drain)
        await drainOldWorkers(host, record.drain.lb, profile.processListArgs, record.drain.oldWorkers, settings.timeouts.drain);
}
// Instances the kept load-balancer may go on using while newcomers are checked.
function stillServing({ plan }, state) {
    const gone = new Set(plan.removeFirst.map((i) => i.id));
    return state.instances.filter((i) => i.running && !gone.has(i.id)).map((i) => ({ name: i.name, port: i.port }));
}
// Checked by prepareReloads.
async function reload(ctx, lb, config) {
    ctx.signal?.throwIfAborted();
    await loadConfig(ctx.host, lb, renderHaproxyConfig(config));
    ctx.record.changed = true;
}
// Until the servers of `backend` are healthy, and the load-balancer serves under the configuration
// of that id, when one is given (a shared ingress's may have been reloaded by another deployment since).
async function waitFor(ctx, endpoints, configId, backend, servers, throughService, admitted = []) {
    const names = servers.map((s) => s.name);
    try {
        return await ctx.waitUntilServing(endpoints, {
            backend,
            servers: names,
            admitted: admitted.map((s) => s.name),
            configId,
            throughService,
            deadline: ctx.deadline,
            check: () => failIfExited(ctx),
            signal: ctx.signal,
        });
    }
    catch (error) {
        if (error instanceof NotReadyError)
            await showLogs(ctx, error.unhealthy, error.statuses, backend);
        throw error;
    }
}
// A container of this run that exits will never become healthy: say so now, not at the timeout.
async function failIfExited(ctx) {
    const { host, settings, plan } = ctx;
    const watched = [...plan.create.map((i) => i.name), ...ctx.services.start.map((s) => s.name), ...(plan.lb === 'keep' ? [] : [settings.lbName])];
    if (watched.length === 0)
        return;
    const stopped = await host.listStopped(settings.instancePrefix, ctx.profile.stoppedStatuses);
    const dead = stopped.find((c) => watched.includes(c.name));
    if (!dead)
        return;
    const { State } = await host.inspect(dead.id);
    // Started again by its restart policy: Podman restarts at once, so it is judged once its restarts
    // are used up and it stays down; dockerd waits before each restart and shows it restarting
    // meanwhile, which is a crash at start. Either way with the exit code of its last run.
    if (State.Running && !State.Restarting)
        return;
    throw await crashedAtStart(ctx, dead, State.ExitCode);
}
async function crashedAtStart(ctx, container, exitCode) {
    const { settings } = ctx;
    const logs = await ctx.host.recentLogs(container.id, 20).catch(() => '(logs unavailable)');
    const service = ctx.services.start.find((s) => s.name === container.name);
    const [what, image] = container.name === settings.lbName
        ? [`Load-balancer ${settings.lbName}`, settings.haproxyImage]
        : service
            ? [`Service ${service.spec.name} (container ${container.name})`, service.spec.image]
            : [`Instance ${container.name}`, settings.image];
    return new Error(`${what} exited with code ${exitCode} right after starting. Its last log lines:\n${logs.trimEnd() || '(none)'}\nCheck that ${image} runs a long-lived service with this configuration.`);
}
async function showLogs(ctx, unhealthy, statuses, backend) {
    const lbName = ctx.settings.lbName;
    // Not a shared ingress's log: it names the other deployments it routes, maybe other repositories'.
    for (const name of [...(ctx.settings.ingress ? [] : [lbName]), ...unhealthy]) {
        const state = name === lbName ? '' : ` (${describeServer(statuses, backend, name)})`;
        const logs = await ctx.host.recentLogs(name).catch((error) => `(logs unavailable: ${describe(error)})`);
        await log_log.group(`Logs of ${name}${state}`, async () => log_log.quote(logs.trimEnd() || '(no output)'));
    }
    if (unhealthy.length > 0)
        log_log.error(`Not healthy behind the load-balancer: ${unhealthy.map((n) => `${n} ${describeServer(statuses, backend, n)}`).join('; ')}`);
}
// The load-balancer's address (on the external network, else the host's published address) and
// where its stats page is reached there; empty or 0 where the container has none (yet).
function statsAddressOf({ settings, publishedHost }, inspected) {
    if (settings.externalNetwork)
        return { ip: inspected.NetworkSettings.Networks[settings.externalNetwork]?.IPAddress ?? '', statsHostPort: STATS_PORT };
    return { ip: publishedHost, statsHostPort: Number(inspected.NetworkSettings.Ports?.[`${STATS_PORT}/tcp`]?.[0]?.HostPort) || 0 };
}
function ownServed({ settings }) {
    return { what: `Load-balancer ${settings.lbName}` };
}
// Where the load-balancer serves and shows its stats.
async function endpointsOf(ctx, lb, lbConfig, served) {
    const { settings } = ctx;
    const inspected = await ctx.host.inspect(lb);
    const { ip, statsHostPort } = statsAddressOf(ctx, inspected);
    if (settings.externalNetwork && !ip)
        throw new Error(`${served.what} got no address on network ${settings.externalNetwork}. Check that the network hands out addresses (its IP range or DHCP).`);
    if (!statsHostPort) {
        // A new load-balancer that crashes has no ports between two restarts, and shows as running
        // (not stopped) for a moment after each: judged by this inspect, not by the list.
        const { State } = inspected;
        if (ctx.plan.lb !== 'keep' && (!State.Running || State.Restarting))
            throw await crashedAtStart(ctx, { id: lb, name: settings.lbName }, State.ExitCode);
        throw new Error(`${served.what} has no published ports: it is not running (state: ${inspected.State.Status}).`);
    }
    const port = settings.lbPort;
    const scheme = settings.protocol === 'tcp' ? 'tcp' : settings.certificate ? 'https' : 'http';
    const defaultPort = { http: 80, https: 443, tcp: 0 }[scheme];
    const url = `${scheme}://${served.hostname ?? hostForUrl(ip)}${port === defaultPort ? '' : `:${port}`}`;
    return {
        endpoints: {
            statsUrl: `https://${hostForUrl(ip)}:${statsHostPort}${STATS_PATH}`,
            statsAuthorization: basicAuthorization(lbConfig.statsAuth),
            statsCertificate: lbConfig.statsCertificate.certificate,
            serviceHost: ip,
            servicePort: port,
            protocol: settings.protocol,
            certificateFingerprint: settings.certificate?.fingerprint256,
            serviceAuthorization: settings.basicAuth && basicAuthorization(settings.basicAuth[0]),
            serviceName: served.hostname,
        },
        address: { ip, port, url },
    };
}

;// CONCATENATED MODULE: ./src/steps/haproxy-container.ts







// An HAProxy container, a deployment's own load-balancer or a shared ingress (src/ingress), made
// the way a VCH accepts: created on ONE network with its ports published, connected to the
// network of what it balances, given its configuration, and only then started.
// Inside the container HAProxy listens on an unprivileged port when the Docker host publishes it,
// so the image's non-root user never needs to bind below 1024 there.
const PUBLISHED_LISTEN_PORT = 8080;
const PUBLISHED_REDIRECT_PORT = 8081;
// Where it is reached (lb-port, http-redirect-port, on external-network or published) and what it
// keeps from one deploy to the next (the stats page's credentials and certificate, read back from
// the configuration directory of a kept one, `kept`): the settings every HAProxy it runs shares.
function lbSettingsOf(where, profile, kept, statsName) {
    const listenPort = where.externalNetwork ? where.lbPort : PUBLISHED_LISTEN_PORT;
    const redirectListenPort = where.httpRedirectPort && (where.externalNetwork ? where.httpRedirectPort : PUBLISHED_REDIRECT_PORT);
    const keptConfig = kept.get(CONFIG_FILE);
    return {
        listenPort,
        servicePort: where.lbPort,
        redirectListenPort,
        certificateFile: where.https ? CERTIFICATE_PATH : undefined,
        statsAuth: (keptConfig !== undefined && statsAuthIn(keptConfig)) || newStatsAuth(),
        statsCertificate: statsCertificateFor(kept.get(STATS_CERTIFICATE_FILE), `vic-lb stats ${statsName}`),
        statsCertificateFile: STATS_CERTIFICATE_PATH,
        startsAsRoot: lbUser(profile, Math.min(listenPort, redirectListenPort || listenPort)) === 'root',
    };
}
// Each port it serves on inside, with where the Docker host publishes it and the input that says so.
function servedPorts(lb, where) {
    return [
        { inside: lb.listenPort, outside: where.lbPort, input: 'lb-port' },
        ...(lb.redirectListenPort ? [{ inside: lb.redirectListenPort, outside: where.httpRedirectPort, input: 'http-redirect-port' }] : []),
    ];
}
// Created and configured, not started; `created` learns the ID as soon as there is one, so that an
// undo removes it whatever fails after.
async function createHaproxy(host, profile, spec, created) {
    const { kind, name, image, served, externalNetwork, balancedNetwork } = spec;
    const firstNetwork = externalNetwork || balancedNetwork;
    const stats = `${STATS_PORT}/tcp`;
    const container = await host
        .createContainer({
        name,
        Image: image,
        Labels: spec.labels,
        ...(spec.startsAsRoot ? { User: 'root' } : {}),
        ExposedPorts: Object.fromEntries([...served.map(({ inside }) => [`${inside}/tcp`, {}]), [stats, {}]]),
        HostConfig: {
            NetworkMode: firstNetwork,
            RestartPolicy: profile.restartPolicy,
            // On a container network publishing opens the VCH firewall for the port; on the Docker
            // host's own network it maps lb-port (and http-redirect-port), and the stats page to a free port.
            PortBindings: Object.fromEntries([
                ...served.map(({ inside, outside }) => [`${inside}/tcp`, [{ HostPort: externalNetwork ? '' : String(outside) }]]),
                [stats, [{ HostPort: '' }]],
            ]),
        },
        NetworkingConfig: { EndpointsConfig: { [firstNetwork]: {} } },
    })
        .catch((error) => {
        throw new Error(`Could not create ${kind} ${name} from ${image}: ${describe(error)}`);
    });
    created(container);
    if (externalNetwork)
        await host.connect(balancedNetwork, container);
    const placed = host
        .hasPath(container, CONFIG_DIR)
        .then((found) => (found ? host.putFile(container, CONFIG_DIR, CONFIG_FILE, spec.config) : Promise.reject(new Error('the image has no such directory'))));
    await placed.catch((error) => {
        throw new Error(`Could not put the HAProxy configuration into ${CONFIG_DIR} of ${kind} ${name}: ${describe(error)}. haproxy-image must be built like the official haproxy image (${image} may not be).`);
    });
    await putCertificate(host, container, 'stats', spec.statsPem, name);
    if (spec.servicePem)
        await putCertificate(host, container, 'service', spec.servicePem, name);
    return container;
}
// The stats page is published on a port the Docker host picks from the kernel's ephemeral range,
// where a client's connection may hold the very port it picks: dockerd's userland proxy then cannot
// bind it ("listen tcp4 0.0.0.0:32957: bind: address already in use", seen in the e2e suite). Such a
// start is tried again, and the host picks another port.
const PICKED_PORT_ATTEMPTS = 3;
// A port taken on the Docker host is named with the input that chose it.
async function startHaproxy(host, container, { kind, servesAs, served }) {
    const what = `${kind} ${servesAs}`;
    for (let attempt = 1;; attempt++) {
        try {
            await host.start(container);
            break;
        }
        catch (error) {
            const message = describe(error);
            const port = portInUse(message);
            if (port !== undefined && !served.some((s) => s.outside === port) && attempt < PICKED_PORT_ATTEMPTS)
                continue;
            const taken = /port is already allocated|address already in use/i.test(message);
            throw new Error(`Could not start ${what}: ${message}${taken ? `. Port ${served.map((s) => s.outside).join(' or ')} is taken on the Docker host: choose another ${served.map((s) => s.input).join(' or ')} or stop what uses it.` : ''}`);
        }
    }
    log_log.info(`Started ${what}`);
}
// The port a start could not bind, where the engine's message names it.
function portInUse(message) {
    const match = /:(\d+): bind: address already in use|:(\d+) failed: port is already allocated/.exec(message);
    return match ? Number(match[1] ?? match[2]) : undefined;
}

;// CONCATENATED MODULE: ./src/steps/own-load-balancer.ts










// The deployment's own load-balancer, an HAProxy container of its own (lb-name), behind the
// LoadBalancer the deploy's steps use: started with the services or the instances when it is new
// or replaced, reloaded when it is kept.
// How long the undo waits for a load-balancer it started again to listen: HAProxy starts in well under a second.
const LISTEN_TIMEOUT_MS = 10_000;
// Made for one deploy, with its configuration: a kept load-balancer's stats credentials, basic-auth
// salt and stats certificate are read back from inside it (its configuration directory, in one
// request); a new one gets new ones.
async function ownLoadBalancer(ctx, state, lbSpec) {
    const { host, settings, plan, services } = ctx;
    const keptLb = plan.lb === 'keep' ? state.lb.id : undefined;
    const keptFiles = keptLb ? await host.getFiles(keptLb, CONFIG_DIR) : new Map();
    const keptConfig = keptFiles.get(CONFIG_FILE);
    const basicAuthSalt = (keptConfig !== undefined && basicAuthSaltIn(keptConfig)) || newBasicAuthSalt();
    const lbConfig = {
        ...lbSettingsOf({ ...settings, https: !!settings.certificate }, ctx.profile, keptFiles, settings.lbName),
        protocol: settings.protocol,
        timeouts: settings.timeouts,
        healthCheckPath: settings.healthCheckPath,
        serving: plan.serving,
        candidates: [],
        services: services.checked,
        basicAuth: settings.basicAuth && basicAuthCheck(settings.instancePrefix, basicAuthSalt, settings.basicAuth),
        allowedSources: settings.allowCidrs,
    };
    log_log.setSecret(lbConfig.statsAuth.password);
    log_log.setSecret(basicAuthorization(lbConfig.statsAuth));
    return new OwnLoadBalancer(ctx, lbSpec, lbConfig, state, keptFiles);
}
// What it changes goes into the run's UndoRecord (previousConfig, replacedLb, drain), as the other
// steps' changes do, and from there to a killed run's post step; the object keeps only what passes
// from one of its calls to the next.
class OwnLoadBalancer {
    ctx;
    lbSpec;
    lbConfig;
    state;
    keptFiles;
    // The load-balancer this run created, and once started, new or replacing the previous one.
    created;
    started;
    reloads;
    constructor(ctx, 
    // Labelled on a new one: what its replacement is decided by (plan.ts lbSpecOf).
    lbSpec, lbConfig, state, 
    // What a kept load-balancer's CONFIG_DIR holds (empty for a new one).
    keptFiles) {
        this.ctx = ctx;
        this.lbSpec = lbSpec;
        this.lbConfig = lbConfig;
        this.state = state;
        this.keptFiles = keptFiles;
    }
    // It is on the deployment's network itself.
    instanceNetworks = [];
    get container() {
        return this.started ?? this.state.lb.id;
    }
    startWithServices() {
        return this.ctx.plan.lb === 'keep' ? undefined : this.newStart();
    }
    waitForServices() {
        return waitForServices(this.ctx, this.container, this.lbConfig, this.state, this.keptFiles);
    }
    startWithInstances() {
        return this.ctx.plan.lb === 'keep' || this.created ? undefined : this.newStart();
    }
    async prepareSwitch() {
        this.reloads = await prepareReloads(this.ctx, this.lbConfig, this.state, this.keptFiles);
    }
    switchTraffic() {
        return switchTraffic(this.ctx, this.container, this.lbConfig, this.reloads);
    }
    async removeReplaced() {
        const { host, record } = this.ctx;
        if (record.replacedLb)
            await host.remove([record.replacedLb.id], []);
    }
    drain() {
        return drainRecorded(this.ctx);
    }
    async restorePrevious() {
        const { host, settings, record } = this.ctx;
        if (!record.previousConfig)
            return;
        const { lb, text, certificate } = record.previousConfig;
        try {
            if (certificate)
                await putCertificate(host, lb, 'service', certificate, settings.lbName);
            await loadConfig(host, lb, text);
            log_log.info('Restored the previous load-balancer configuration');
        }
        catch (error) {
            log_log.warning(`Could not restore the previous load-balancer configuration: ${describe(error)}`);
        }
    }
    async startReplacedAgain() {
        const { ctx } = this;
        const { host, record } = ctx;
        if (!record.replacedLb)
            return [];
        const { id, name } = record.replacedLb;
        try {
            await restartReplaced(host, id, name);
            // Serving again before the run ends, not a moment after.
            const { ip, statsHostPort } = statsAddressOf(ctx, await host.inspect(id));
            if (!(ip && statsHostPort && (await ctx.waitUntilListening(ip, statsHostPort, LISTEN_TIMEOUT_MS))))
                log_log.warning(`The previous load-balancer ${name} was started again but does not answer yet; check it with docker logs ${name}`);
            return [];
        }
        catch (error) {
            return [`restarting the previous load-balancer ${name}: ${describe(error)}`];
        }
    }
    configWithoutSecrets() {
        return withoutBasicAuthDigests(withoutStatsPassword(renderHaproxyConfig(this.lbConfig)));
    }
    newStart() {
        const spec = haproxySpecOf(this.ctx, this.lbSpec, this.lbConfig, this.state);
        return {
            create: async () => {
                this.created = await createLb(this.ctx, spec);
            },
            start: async () => {
                await startLb(this.ctx, this.created, spec, this.state);
                this.started = this.created;
            },
        };
    }
}
// A replacement (new HAProxy image, port or network) is prepared in full while the old one still
// serves, so the gap is only the old one's graceful stop and the new one's start.
function createLb(ctx, spec) {
    const { host, record } = ctx;
    return createHaproxy(host, ctx.profile, spec, (id) => {
        record.createdContainers.push(id);
        record.changed = true;
    });
}
async function startLb(ctx, container, spec, state) {
    if (state.lb)
        await standAside(ctx, state.lb, container);
    await startHaproxy(ctx.host, container, spec);
}
function haproxySpecOf(ctx, lbSpec, lbConfig, state) {
    const { settings, netName } = ctx;
    return {
        kind: 'load-balancer',
        servesAs: settings.lbName,
        name: state.lb ? `${settings.lbName}-next` : settings.lbName,
        image: settings.haproxyImage,
        labels: deploymentLabels(settings.instancePrefix, 'lb', { [LABEL.lbSpec]: lbSpec }),
        startsAsRoot: lbConfig.startsAsRoot,
        served: servedPorts(lbConfig, settings),
        externalNetwork: settings.externalNetwork,
        balancedNetwork: netName,
        config: renderHaproxyConfig(lbConfig),
        statsPem: lbConfig.statsCertificate.pem,
        servicePem: settings.certificate?.pem,
    };
}
// The old load-balancer stops (gracefully: the image's stop signal lets HAProxy finish its
// requests) and gives its name to the new one; it is kept until the new one serves, so that a
// failed replacement can start it again.
async function standAside(ctx, old, next) {
    const { host, settings, record } = ctx;
    ctx.signal?.throwIfAborted();
    record.remember({ replacedLb: { id: old.id, name: old.name } });
    await host.stop(old.id, 10);
    if (old.name === settings.lbName)
        await host.rename(old.id, `${old.name}-old`);
    record.replacedLb = { id: old.id, name: old.name };
    await host.rename(next, settings.lbName);
    log_log.info(`Stopped load-balancer ${old.name} to replace it`);
}

;// CONCATENATED MODULE: ./src/ingress/record.ts




// A routed deployment's route lives on the Docker host, not in any runner's memory: the ingress's
// configuration is rendered from every record there is (under the ingress lease, so no deploy's
// change is lost), and an ingress that crashed or was replaced gets every route back from them.
//
// The record is a container that is created and never started, as the lock is, holding the route
// as a JSON file: labels cannot change after create, and on a VCH every create is a VM, while an
// archive upload works on a never-started container on every host. It carries the deployment's
// labels, so that the deployment's teardown and prune find it with the rest.
const ROUTE_DIR = '/';
const ROUTE_FILE = 'vic-lb-route.json';
// A VCH refuses a container without a command; started by hand, this fails at once.
const ROUTE_COMMAND = ['vic-lb-action-route: never started'];
// Reads of the records at once: one archive request each.
const READS_AT_ONCE = 10;
async function readRoutes(host, ingress) {
    const records = await host.listContainers([`${LABEL.ingress}=${ingress}`, `${LABEL.role}=route`]);
    const routes = [];
    const unreadable = [];
    for (let i = 0; i < records.length; i += READS_AT_ONCE) {
        const batch = records.slice(i, i + READS_AT_ONCE);
        const texts = await Promise.all(batch.map((r) => host.getFile(r.id, `${ROUTE_DIR}${ROUTE_FILE}`).catch((error) => describe(error))));
        batch.forEach((record, j) => {
            const parsed = parseRoute(texts[j], record.labels[LABEL.deployment]);
            if (typeof parsed === 'string')
                unreadable.push(`${record.name} (${parsed})`);
            else
                routes.push(parsed);
        });
    }
    return { routes, unreadable };
}
// Creates the deployment's record on its first route, else rewrites it in place.
async function writeRoute(host, ingress, route, image) {
    const name = routeName(route.deployment);
    const existing = (await host.listContainers([`${LABEL.deployment}=${route.deployment}`, `${LABEL.role}=route`]))[0];
    const id = existing?.id ??
        (await host.createContainer({
            name,
            Image: image,
            Cmd: ROUTE_COMMAND,
            Labels: deploymentLabels(route.deployment, 'route', { [LABEL.ingress]: ingress, [LABEL.hostname]: route.hostname }),
        }));
    await host.putFile(id, ROUTE_DIR, ROUTE_FILE, `${JSON.stringify(route)}\n`);
}
// The deployment's own route, as its record holds it; undefined when it has none (or an invalid one).
async function readRoute(host, deployment) {
    const record = (await host.listContainers([`${LABEL.deployment}=${deployment}`, `${LABEL.role}=route`]))[0];
    if (!record)
        return undefined;
    const parsed = parseRoute(await host.getFile(record.id, `${ROUTE_DIR}${ROUTE_FILE}`), deployment);
    return typeof parsed === 'string' ? undefined : parsed;
}
async function removeRoute(host, deployment) {
    for (const record of await host.listContainers([`${LABEL.deployment}=${deployment}`, `${LABEL.role}=route`]))
        await host.removeContainer(record.id);
}
// Pure: the route a record holds, or why it holds none. Anybody who can reach the Docker host can
// write a record, and its values end up in HAProxy's configuration: each is held to the rules of
// the input it came from, so that nothing can add a line to the configuration.
function parseRoute(text, deployment) {
    if (text === undefined)
        return 'no route file';
    let value;
    try {
        value = JSON.parse(text);
    }
    catch {
        return 'not JSON';
    }
    const route = value;
    if (typeof route !== 'object' || route === null)
        return 'not a route';
    if (!(typeof route.deployment === 'string' && RECORD_CHECKS.deployment(route.deployment) && route.deployment === deployment))
        return 'its deployment does not match its label';
    if (!(typeof route.hostname === 'string' && RECORD_CHECKS.hostname(route.hostname)))
        return 'invalid hostname';
    if (!(isServers(route.serving) && isServers(route.candidates)))
        return 'invalid servers';
    if (!(typeof route.healthCheckPath === 'string' && RECORD_CHECKS.healthCheckPath(route.healthCheckPath)))
        return 'invalid health-check path';
    const timeouts = route.timeouts;
    if (!(timeouts && [timeouts.response, timeouts.tunnel].every((t) => Number.isInteger(t) && t > 0)))
        return 'invalid timeouts';
    if (route.allowedSources !== undefined && !(Array.isArray(route.allowedSources) && route.allowedSources.every((c) => typeof c === 'string' && RECORD_CHECKS.cidr(c))))
        return 'invalid allow-cidrs';
    return route;
}
function isServers(servers) {
    return (Array.isArray(servers) &&
        servers.every((s) => typeof s === 'object' &&
            s !== null &&
            typeof s.name === 'string' &&
            RECORD_CHECKS.serverName(s.name) &&
            Number.isInteger(s.port) &&
            s.port >= 1 &&
            s.port <= 65535));
}

;// CONCATENATED MODULE: ./src/ingress/ensure.ts









function ingressSpecOf(settings) {
    return {
        haproxyImage: settings.haproxyImage,
        externalNetwork: settings.externalNetwork,
        lbPort: settings.lbPort,
        ...(settings.httpRedirectPort ? { httpRedirectPort: settings.httpRedirectPort } : {}),
        ...(settings.certificate ? { certificate: settings.certificate.fingerprint256 } : {}),
        drainTimeout: settings.timeouts.drain,
    };
}
// Pure: what this deploy names differently from the ingress, as a sentence; undefined when nothing.
// The image is compared by reference, not ID: a newer pull of the same tag is the same choice.
function specDifference(ingress, made, wanted) {
    const inputs = [
        ['haproxyImage', 'haproxy-image'],
        ['externalNetwork', 'external-network'],
        ['lbPort', 'lb-port'],
        ['httpRedirectPort', 'http-redirect-port'],
        ['certificate', 'lb-certificate'],
    ];
    const show = (key, value) => value === undefined || value === '' ? '(none)' : key === 'certificate' ? `the certificate of SHA-256 fingerprint ${String(value)}` : `'${String(value)}'`;
    const differ = inputs.filter(([key]) => made[key] !== wanted[key]);
    if (differ.length === 0)
        return undefined;
    return `Ingress '${ingress}' serves the previews of several deployments and was made with ${differ.map(([key, input]) => `${input} ${show(key, made[key])}`).join(', ')}; this deploy gives ${differ.map(([key, input]) => `${input} ${show(key, wanted[key])}`).join(', ')}. A deploy never changes the ingress under the other previews: give the ingress's values (or leave ingress empty for a load-balancer of this deployment's own).`;
}
// The ingress as the host has it, undefined when there is none; a container of its name that is
// not it is refused.
async function findIngress(host, profile, name) {
    const labels = await host.labelsOf('container', name);
    if (!labels)
        return undefined;
    if (labels[LABEL.role] !== 'ingress' || labels[LABEL.ingress] !== name)
        throw new Error(`A container named ${name} exists on the Docker host and is not ingress '${name}'${labels[LABEL.deployment] ? ` (it belongs to deployment '${labels[LABEL.deployment]}')` : ''}. Choose another ingress, or remove that container.`);
    const spec = parseSpec(labels[LABEL.ingressSpec]);
    if (!spec)
        throw new Error(`Ingress '${name}' has no readable ${LABEL.ingressSpec} label. Remove it (its routes are kept on the host) and deploy again.`);
    const { Id, State } = await host.inspect(name);
    const files = await host.getFiles(Id, CONFIG_DIR);
    return { id: Id, name, files, settings: ingressSettingsOf(spec, profile, files, name), spec, running: State.Running };
}
// The ingress serving, made or started when needed. `created`: the IDs of what this call made.
async function ensureIngress(host, profile, settings, created) {
    const name = settings.ingress.name;
    const wanted = ingressSpecOf(settings);
    const found = await findIngress(host, profile, name);
    const difference = found && specDifference(name, found.spec, wanted);
    if (difference)
        throw new Error(difference);
    if (found) {
        // Started again with every route there is, not with what it held when it stopped.
        if (!found.running) {
            await host.putFile(found.id, CONFIG_DIR, CONFIG_FILE, await configOfEveryRoute(host, found));
            await startHaproxy(host, found.id, { kind: 'ingress', servesAs: name, served: servedPorts(found.settings, found.spec) });
        }
        return found;
    }
    const net = networkName(name);
    if (!(await host.labelsOf('network', net))) {
        const network = await host.createNetwork(net, ingressLabels(name, 'network')).catch((error) => {
            throw new Error(`Could not create the network ${net} of ingress '${name}': ${describe(error)}`);
        });
        created(network);
    }
    const made = { id: '', name, files: new Map(), settings: ingressSettingsOf(wanted, profile, new Map(), name) };
    const spec = {
        kind: 'ingress',
        servesAs: name,
        name,
        image: settings.haproxyImage,
        labels: ingressLabels(name, 'ingress', { [LABEL.ingressSpec]: JSON.stringify(wanted) }),
        startsAsRoot: made.settings.startsAsRoot,
        served: servedPorts(made.settings, wanted),
        externalNetwork: wanted.externalNetwork,
        balancedNetwork: net,
        config: await configOfEveryRoute(host, made),
        statsPem: made.settings.statsCertificate.pem,
        servicePem: settings.certificate?.pem,
    };
    const container = await createHaproxy(host, profile, spec, created);
    await startHaproxy(host, container, spec);
    log_log.info(`Made ingress '${name}'`);
    return { ...made, id: container, files: await host.getFiles(container, CONFIG_DIR) };
}
// The ingress loads the configuration of every route the host records now, checked by its own
// HAProxy first: under the ingress's lock, so that no deployment's change is lost. `records`: the
// routes as read under this same lock hold, so as not to read every record again (on Podman the
// reads of an archive run one at a time).
// Returns the id the loaded configuration answers with (ingressConfigIdOf).
async function reloadIngress(host, ingress, records) {
    const config = { ...ingress.settings, routes: everyRouteOf(ingress.name, records ?? (await readRoutes(host, ingress.name))) };
    const user = (await host.inspect(ingress.id)).Config.User ?? '';
    await checkInside(host, ingress.id, `ingress '${ingress.name}'`, user, renderIngressConfigToCheck(config));
    await loadConfig(host, ingress.id, renderIngressConfig(config));
    return ingressConfigIdOf(config);
}
async function configOfEveryRoute(host, ingress) {
    return renderIngressConfig({ ...ingress.settings, routes: await everyRoute(host, ingress.name) });
}
async function everyRoute(host, name) {
    return everyRouteOf(name, await readRoutes(host, name));
}
function everyRouteOf(name, { routes, unreadable }) {
    if (unreadable.length > 0)
        log_log.warning(`Route records of ingress '${name}' that hold no valid route, left out: ${unreadable.join('; ')}`);
    return routes;
}
// Where it listens and its stats page's credentials, from what it was made with: the same for every
// deploy that renders its configuration.
function ingressSettingsOf(spec, profile, files, name) {
    return { ...lbSettingsOf({ ...spec, https: !!spec.certificate }, profile, files, name), drainTimeout: spec.drainTimeout };
}
function parseSpec(text) {
    try {
        const spec = JSON.parse(text ?? '');
        return typeof spec === 'object' && spec !== null && typeof spec.haproxyImage === 'string' ? spec : undefined;
    }
    catch {
        return undefined;
    }
}

;// CONCATENATED MODULE: ./src/github/runs.ts
// A lock's holder as a workflow run, `owner/repo run_id attempt` (lock.ts labels the lock with
// it): with a github-token, a waiting run asks GitHub whether that run has completed, in which case
// it holds nothing any more. Anything unclear (no access, an unknown run) proves nothing.
function workflowRunOf(env = process.env) {
    const { GITHUB_REPOSITORY: repository, GITHUB_RUN_ID: runId, GITHUB_RUN_ATTEMPT: attempt } = env;
    return repository && runId ? `${repository} ${runId} ${attempt || '1'}` : undefined;
}
function workflowRunFinished(api) {
    return async (run) => {
        const [repository, runId, attempt] = run.split(' ');
        const [owner, repo] = repository?.split('/') ?? [];
        if (!owner || !repo || !/^\d+$/.test(runId ?? '') || !/^\d+$/.test(attempt ?? ''))
            return false;
        try {
            const { data } = await api.rest.actions.getWorkflowRunAttempt({ owner, repo, run_id: Number(runId), attempt_number: Number(attempt) });
            return data.status === 'completed';
        }
        catch {
            return false;
        }
    };
}

;// CONCATENATED MODULE: ./src/lock.ts











// The label that names what a lock is for: the ingress's lock belongs to no deployment, so that a
// deployment's teardown and prune never see it.
function labelOf({ kind }) {
    return kind === 'deployment' ? LABEL.deployment : LABEL.ingress;
}
// Four beats to lapse; the holder stops writing after two missed ones.
const LEASE = { beatMs: 4_000, lapseMs: 16_000, holdMs: 10_000 };
const LEASE_DIR = '/';
const LEASE_FILE = 'vic-lb-lease';
const lock_POLL_MS = 1_000;
const INGRESS_POLL_MS = 100;
// How often a waiting run asks GitHub again whether the holder's workflow run has completed.
const ASK_GITHUB_EVERY_MS = 10_000;
const REPORT_EVERY_MS = 10_000;
// A VCH refuses to create a container without a command. The lock is never started; should
// somebody start it by hand, this command fails at once instead of running the image's service.
const LOCK_COMMAND = ['vic-lb-action-lock: never started'];
// Names the holder so that a waiting run can say whom it waits for: the workflow run (and its
// attempt) on a runner, else the machine and process.
function holderOf(env = process.env, host = external_node_os_.hostname(), pid = process.pid) {
    if (env.GITHUB_RUN_ID) {
        const run = `run ${env.GITHUB_RUN_ID}/${env.GITHUB_RUN_ATTEMPT ?? '1'}`;
        return env.GITHUB_REPOSITORY ? `${run} of ${env.GITHUB_REPOSITORY}` : run;
    }
    return `${host} pid ${pid}`;
}
// Who holds a lock, precisely enough to prove later that the process is gone: its machine (host
// name and boot), PID namespace, PID and the PID's start time (a reused PID starts later).
function processIdentity(pid = process.pid) {
    const machine = thisMachine();
    const started = startTimeOf(pid);
    return machine && started ? `${machine} ${pid} ${started}` : undefined;
}
// True only when the holder ran on this machine and its process no longer runs. A holder
// elsewhere, or one whose identity is unknown, may be alive: it is waited for.
function holderProcessGone(identity) {
    const machine = thisMachine();
    const parts = identity?.split(' ') ?? [];
    if (!machine || parts.length !== 5 || parts.slice(0, 3).join(' ') !== machine)
        return false;
    return startTimeOf(Number(parts[3])) !== parts[4];
}
function thisMachine() {
    try {
        const boot = external_node_fs_.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
        const pidNamespace = external_node_fs_.readlinkSync('/proc/self/ns/pid').replace(/\D/g, '');
        return `${external_node_os_.hostname()} ${boot} ${pidNamespace}`;
    }
    catch {
        return undefined; // not Linux: nothing is provable
    }
}
// Field 22 of /proc/<pid>/stat, counted after the command name (which may hold spaces).
function startTimeOf(pid) {
    try {
        const stat = external_node_fs_.readFileSync(`/proc/${pid}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    }
    catch {
        return undefined;
    }
}
// Runs fn while this run holds the deployment's lease; fn gets the host to write through, which
// refuses every write once the lease cannot be vouched for (LeaseLostError).
function withDeploymentLock(host, deployment, options, fn) {
    return withLock(host, { kind: 'deployment', name: deployment }, options, fn);
}
// The same for one change of a shared ingress's routes: taken inside the deployment's lock (never
// the other way round, so two runs cannot wait for each other), for as long as one change takes.
// It is held for a record write and a reload, a second or so: waiters ask again often.
function withIngressLock(host, ingress, options, fn) {
    return withLock(host, { kind: 'ingress', name: ingress }, { pollMs: INGRESS_POLL_MS, ...options }, fn);
}
async function withLock(host, locked, options, fn) {
    const log = options.log ?? log_log;
    const id = await acquire(host, locked, options);
    const lease = new Lease(host, locked, id, options.lease ?? LEASE);
    try {
        return await fn(lease.guard(host));
    }
    finally {
        lease.stop();
        if ((await releaseLock(host, locked, id, log)) === 'gone')
            log.warning(`The lock ${lockName(locked.name)} of ${describeLocked(locked)} was taken over by another run while this one held it: its lease had lapsed.`);
    }
}
// The holder's side: renews, and knows whether it may still write.
class Lease {
    host;
    locked;
    id;
    timing;
    beats = 0;
    renewedAt = Date.now(); // the lock was created just now
    lost;
    lastError;
    timer;
    stopped = false;
    constructor(host, locked, id, timing) {
        this.host = host;
        this.locked = locked;
        this.id = id;
        this.timing = timing;
        void this.renew();
    }
    async renew() {
        try {
            await this.host.putFile(this.id, LEASE_DIR, LEASE_FILE, `${++this.beats}\n`);
            this.renewedAt = Date.now();
        }
        catch (error) {
            if (isGone(error))
                this.lost = 'its lock container is gone: another run took the lock over';
            else
                this.lastError = describe(error);
        }
        if (!this.stopped && !this.lost) {
            this.timer = setTimeout(() => void this.renew(), this.timing.beatMs);
            this.timer.unref();
        }
    }
    stop() {
        this.stopped = true;
        clearTimeout(this.timer);
    }
    assertHeld() {
        const since = Date.now() - this.renewedAt;
        const why = this.lost ?? (since > this.timing.holdMs ? `it could not be renewed for ${Math.round(since / 1000)} s (${this.lastError ?? 'no answer'})` : undefined);
        if (why)
            throw new LeaseLostError(`This run lost the lock ${lockName(this.locked.name)} of ${describeLocked(this.locked)}: ${why}. It stopped before changing anything more on the Docker host; another run may be working on the ${this.locked.kind} now. Check the connection to the Docker host and run again: the next run settles what this one left.`);
    }
    // Every call that changes the host first checks the lease; reads pass.
    guard(host) {
        const writes = new Set(WRITES);
        return new Proxy(host, {
            get: (target, property) => {
                const value = Reflect.get(target, property);
                if (typeof value !== 'function')
                    return value;
                const call = value.bind(target);
                if (!writes.has(property))
                    return call;
                return (...args) => {
                    this.assertHeld();
                    return call(...args);
                };
            },
        });
    }
}
const WRITES = [
    'createNetwork',
    'createContainer',
    'connect',
    'start',
    'stop',
    'rename',
    'remove',
    'removeContainer',
    'putFile',
    'exec',
    'signal',
];
async function acquire(host, locked, options) {
    const log = options.log ?? log_log;
    const name = lockName(locked.name);
    const timeoutMs = options.timeoutSeconds * 1000;
    const startedWaiting = Date.now();
    let lastReport;
    let waited = false;
    let observed;
    const askedGitHub = new Map(); // lock container ID -> when
    for (;;) {
        options.signal?.throwIfAborted();
        const taken = await tryCreate(host, locked, options);
        if (taken) {
            rememberLock({ ...locked, id: taken });
            if (waited)
                log.info(`Took the lock ${name} after waiting ${Math.round((Date.now() - startedWaiting) / 1000)} s`);
            return taken;
        }
        waited = true;
        const current = await readHolder(host, name, locked);
        if (!current)
            continue; // released between our attempt and our look: try again at once
        observed = await observeLease(host, current, observed);
        if (!observed)
            continue; // removed while we read it
        const now = Date.now();
        const gone = holderProcessGone(current.process)
            ? 'whose process on this machine no longer runs'
            : current.lapseMs !== undefined && now - observed.since >= current.lapseMs
                ? `whose lease lapsed: it was not renewed for ${Math.round((now - observed.since) / 1000)} s, so that run is taken to have died`
                : (await runCompleted(current, options, askedGitHub))
                    ? 'whose workflow run has completed'
                    : current.lapseMs === undefined && now - current.since.getTime() > timeoutMs
                        ? `made by an earlier version of the action that renews no lease, and older than wait-timeout (${options.timeoutSeconds} s)`
                        : undefined;
        if (gone) {
            const removed = await host.removeContainer(current.id).catch((error) => {
                throw new Error(`Could not remove the stale lock ${name} of ${describeLocked(locked)}: ${describe(error)}. Remove it with 'docker rm -f ${name}'.`);
            });
            // Not removed: its holder released it since we looked (a process that ended after its release).
            if (removed)
                log.warning(`Taking over the lock ${name} of ${describeLocked(locked)}: it was taken for the ${current.operation} started at ${current.since.toISOString()} by ${current.holder}, ${gone}.`);
            continue;
        }
        if (now - startedWaiting >= timeoutMs)
            throw new Error(`Gave up after ${options.timeoutSeconds} s (wait-timeout) waiting for the ${current.operation} of '${locked.name}' started at ${current.since.toISOString()} by ${current.holder}, which still holds it. Run again once that run has finished, or give a longer wait-timeout.`);
        if (lastReport === undefined || now - lastReport >= (options.reportEveryMs ?? REPORT_EVERY_MS)) {
            log.info(`Waiting for the ${current.operation} of '${locked.name}' started at ${current.since.toISOString()} by ${current.holder} (waited ${Math.round((now - startedWaiting) / 1000)} s of at most ${options.timeoutSeconds} s)`);
            lastReport = now;
        }
        await sleep(options.pollMs ?? lock_POLL_MS, options.signal);
    }
}
// Reads the lease's counter; the time it stood still starts anew whenever it (or the lock) changes.
// Undefined when the lock is gone.
async function observeLease(host, holder, last) {
    if (holder.lapseMs === undefined)
        return { id: holder.id, value: undefined, since: Date.now() };
    let value;
    try {
        value = await host.getFile(holder.id, `/${LEASE_FILE}`);
    }
    catch (error) {
        if (isGone(error) || (await isGoneNow(host, holder.id)))
            return undefined;
        throw new Error(`Could not read the lease of the lock container ${holder.id.slice(0, 12)}: ${describe(error)}.`);
    }
    return last && last.id === holder.id && last.value === value ? last : { id: holder.id, value, since: Date.now() };
}
// Whether the error says the container is gone. Podman (seen on 5.4) answers a call on a container
// that is removed while it answers (a lock being released) with a 500 "... no such container",
// not a 404: its name or ID was found, then the container was not.
function isGone(error) {
    const { statusCode, message } = error;
    return statusCode === 404 || (statusCode === 500 && /no such container/i.test(String(message)));
}
// Whether the container is gone by now, or going, whatever an earlier error on it said: dockerd
// answers a read of a container it is removing (a lock being released) with a 500 about its layer.
async function isGoneNow(host, id) {
    try {
        const { State } = await host.inspect(id);
        return State.Status === 'removing' || State.Status === 'dead';
    }
    catch (error) {
        return isGone(error);
    }
}
async function runCompleted(holder, options, asked) {
    if (!holder.run || !options.runFinished)
        return false;
    const last = asked.get(holder.id);
    if (last !== undefined && Date.now() - last < ASK_GITHUB_EVERY_MS)
        return false;
    asked.set(holder.id, Date.now());
    return options.runFinished(holder.run);
}
// The lock container's ID when this run took the lock; undefined when somebody else holds it.
async function tryCreate(host, locked, options) {
    const name = lockName(locked.name);
    const labels = locked.kind === 'deployment' ? deploymentLabels : ingressLabels;
    try {
        return await host.createContainer({
            name,
            Image: options.image,
            Cmd: LOCK_COMMAND,
            Labels: labels(locked.name, 'lock', {
                [LABEL.holder]: options.holder ?? holderOf(),
                [LABEL.operation]: options.operation,
                [LABEL.leaseLapse]: String((options.lease ?? LEASE).lapseMs),
                ...withValue(LABEL.holderProcess, processIdentity()),
                ...withValue(LABEL.holderRun, workflowRunOf()),
            }),
        });
    }
    catch (error) {
        if (isNameClash(options.host, error))
            return undefined;
        throw new Error(`Could not create the lock container ${name} of ${describeLocked(locked)} from image ${options.image}: ${describe(error)}. Check that the Docker host can create containers and has that image.`);
    }
}
// Who holds the lock now; undefined when it is gone (released in the meantime).
async function readHolder(host, name, locked) {
    let inspected;
    try {
        inspected = await host.inspect(name);
    }
    catch (error) {
        if (isGone(error))
            return undefined;
        throw new Error(`Could not read the lock ${name} of ${describeLocked(locked)}: ${describe(error)}.`);
    }
    const labels = inspected.Config?.Labels ?? {};
    if (labels[labelOf(locked)] !== locked.name || labels[LABEL.role] !== 'lock')
        throw new Error(`A container named ${name} exists on the Docker host and is not the lock of ${describeLocked(locked)}${labels[LABEL.deployment] ? ` (it belongs to deployment '${labels[LABEL.deployment]}')` : ''}. Rename or remove it, or choose another ${locked.kind === 'deployment' ? 'instance-prefix' : 'ingress'}.`);
    return holderFromLabels(inspected.Id, labels, inspected.Created);
}
// A lapse a label can ask for: at most this long (a label is anybody's to write).
const MAX_LAPSE_MS = 300_000;
// Pure: the holder as the labels tell it. A lock without a readable time counts from the
// container's creation on the Docker host.
function holderFromLabels(id, labels, createdOnHost) {
    const labelled = new Date(labels[LABEL.created] ?? '');
    const lapse = Number(labels[LABEL.leaseLapse]);
    return {
        id,
        operation: labels[LABEL.operation] || 'deploy',
        holder: labels[LABEL.holder] || 'an unknown run',
        since: Number.isNaN(labelled.getTime()) ? new Date(createdOnHost) : labelled,
        ...(labels[LABEL.holderProcess] ? { process: labels[LABEL.holderProcess] } : {}),
        ...(labels[LABEL.holderRun] ? { run: labels[LABEL.holderRun] } : {}),
        ...(labels[LABEL.leaseLapse] !== undefined ? { lapseMs: Number.isInteger(lapse) && lapse > 0 ? Math.min(lapse, MAX_LAPSE_MS) : MAX_LAPSE_MS } : {}),
    };
}
function withValue(label, value) {
    return value ? { [label]: value } : {};
}
// By the ID this run took it with, never by name: a lock that was taken over in the meantime
// belongs to another run (the post step of a killed run releases it the same way). 'gone': it was
// no longer there, which only the caller can explain; a failure is warned about here.
async function releaseLock(host, locked, id, log) {
    const name = lockName(locked.name);
    try {
        const removed = await host.removeContainer(id);
        forgetLock(id);
        return removed ? 'released' : 'gone';
    }
    catch (error) {
        log.warning(`Could not release the lock ${name} of ${describeLocked(locked)}: ${describe(error)}. The next run takes it over once its lease has lapsed (${LEASE.lapseMs / 1000} s); remove it with 'docker rm -f ${name}' to go on sooner.`);
        return 'failed';
    }
}
// The lock container is never started, so any image on the host will do; the preferred one (the
// HAProxy image) when it is there. Undefined on a host without any image.
async function imageOnHost(host, preferred) {
    return (await host.imageId(preferred)) ? preferred : await host.anyImageId();
}

;// CONCATENATED MODULE: ./src/ingress/unroute.ts




// Before a routed deployment's objects go (teardown, prune): its route leaves the ingress, which
// reloads without it, so that the ingress stops sending it requests first and goes on serving the
// other previews. The ingress itself stays, also with no route left: removing it is explicit.
async function unroute(host, deployment, ingress, lock) {
    await setRouteUnderLock(host, ingress, deployment, undefined, lock);
    log_log.info(`Removed the route of deployment '${deployment}' from ingress '${ingress}'`);
}
// restoreRoute under the ingress's lock, taken here: teardown, prune and the post step.
function setRouteUnderLock(host, ingress, deployment, route, lock) {
    return withIngressLock(host, ingress, { ...lock, operation: 'route' }, (leased) => restoreRoute(leased, lock.host, ingress, deployment, route, lock.image));
}
// Under the ingress's lock: the deployment's route set to `route` (removed when undefined) and the
// ingress, when it runs, reloaded with every route. The undo of a routed deploy, its post step and
// its teardown. `image`: what a record is created from, should it be missing.
async function restoreRoute(leased, profile, ingress, deployment, route, image) {
    if (route)
        await writeRoute(leased, ingress, route, image);
    else
        await removeRoute(leased, deployment);
    const found = await findIngress(leased, profile, ingress);
    if (found?.running)
        await reloadIngress(leased, found);
}

;// CONCATENATED MODULE: ./src/ingress/route.ts











async function ingressRoute(ctx, state, underLock) {
    const { settings } = ctx;
    // Made or started under the lock, so that two first deploys make one. Not undone by a deploy
    // that fails: it is shared, and another deployment may route through it by then.
    const [ingress, previous] = await underLock(async (host) => {
        refuseTakenHostname((await readRoutes(host, settings.ingress.name)).routes, settings.ingress.name, settings.ingress.hostname, settings.instancePrefix);
        return Promise.all([ensureIngress(host, ctx.profile, settings, () => { }), readRoute(host, settings.instancePrefix)]);
    });
    return new IngressRouteBalancer(ctx, state, ingress, previous, underLock);
}
// How long a reload may take to show before the ingress is signalled again.
const SIGNAL_AGAIN_AFTER_MS = 3_000;
class IngressRouteBalancer {
    ctx;
    state;
    ingress;
    previous;
    underLock;
    instanceNetworks;
    // Whether this run changed the route, so that the undo puts back `previous`.
    changed = false;
    constructor(ctx, state, ingress, 
    // The route before this run; undefined on the deployment's first.
    previous, underLock) {
        this.ctx = ctx;
        this.state = state;
        this.ingress = ingress;
        this.previous = previous;
        this.underLock = underLock;
        // Unless they are created on it already (a deployment without companion services, deploy.ts).
        const shared = networkName(ctx.settings.ingress.name);
        this.instanceNetworks = ctx.netName === shared ? [] : [shared];
    }
    get container() {
        return this.ingress.id;
    }
    // The ingress sees no deployment's network, so it cannot check companion services (inputs.ts
    // refuses a service with a port on a routed deployment); the ingress itself is ready already.
    startWithServices() {
        return undefined;
    }
    async waitForServices() { }
    startWithInstances() {
        return undefined;
    }
    async prepareSwitch() { }
    async switchTraffic() {
        const { ctx } = this;
        const { plan, settings } = ctx;
        const deployment = settings.instancePrefix;
        const { endpoints, address } = await endpointsOf(ctx, this.ingress.id, this.ingress.settings, {
            what: `Ingress '${settings.ingress.name}'`,
            hostname: settings.ingress.hostname,
        });
        const newcomers = plan.create.map((i) => plan.serving.find((s) => s.name === i.name));
        // Checked without traffic first only where something serves the name already; a first route
        // goes to serving at once (the name had no answer but the 404 before), as a new load-balancer
        // of a deployment's own starts with its instances: one reload less.
        if (newcomers.length > 0 && this.previous) {
            await this.change(this.routeOf(stillServing(ctx, this.state), newcomers), endpoints);
            await waitFor(ctx, endpoints, undefined, candidateBackendOf(deployment), newcomers, false);
        }
        const final = this.routeOf(plan.serving, []);
        if (JSON.stringify(final) !== JSON.stringify(this.previous)) {
            if (plan.removeAfter.length > 0)
                ctx.record.drain = {
                    lb: this.ingress.id,
                    oldWorkers: await haproxyWorkers(ctx.host, this.ingress.id, ctx.profile.processListArgs).catch(() => undefined),
                };
            await this.change(final, endpoints);
        }
        return { statuses: await waitFor(ctx, endpoints, undefined, servingBackendOf(deployment), plan.serving, true, newcomers), address };
    }
    async removeReplaced() { }
    drain() {
        return drainRecorded(this.ctx);
    }
    async restorePrevious() {
        if (!this.changed)
            return;
        const { settings } = this.ctx;
        try {
            await this.underLock((host) => restoreRoute(host, this.ctx.profile, settings.ingress.name, settings.instancePrefix, this.previous, settings.haproxyImage));
            log_log.info(`Restored the previous route of ${settings.ingress.hostname} on ingress '${settings.ingress.name}'`);
        }
        catch (error) {
            log_log.warning(`Could not restore the previous route on ingress '${settings.ingress.name}': ${describe(error)}`);
        }
    }
    async startReplacedAgain() {
        return [];
    }
    // This deployment's route only: the other previews' names are theirs (the summary goes to this
    // repository's run).
    configWithoutSecrets() {
        return withoutStatsPassword(renderIngressConfig({ ...this.ingress.settings, routes: [this.routeOf(this.ctx.plan.serving, [])] }));
    }
    routeOf(serving, candidates) {
        const { settings } = this.ctx;
        return {
            deployment: settings.instancePrefix,
            hostname: settings.ingress.hostname,
            serving,
            candidates,
            healthCheckPath: settings.healthCheckPath,
            timeouts: { response: settings.timeouts.response, tunnel: settings.timeouts.tunnel },
            ...(settings.allowCidrs ? { allowedSources: settings.allowCidrs } : {}),
        };
    }
    // The record first, then the configuration of every record, checked by the ingress's own HAProxy:
    // another deployment's change under the same lock before or after this one is never lost.
    async change(route, endpoints) {
        const { ctx } = this;
        ctx.signal?.throwIfAborted();
        await this.underLock(async (host) => {
            const records = await readRoutes(host, ctx.settings.ingress.name);
            // Again under the lock: another deployment may have claimed the name since this run began.
            refuseTakenHostname(records.routes, ctx.settings.ingress.name, route.hostname, route.deployment);
            if (!this.changed)
                ctx.record.remember({ routeChangedOn: { ingress: ctx.settings.ingress.name, previous: this.previous } });
            this.changed = true;
            ctx.record.changed = true;
            await writeRoute(host, ctx.settings.ingress.name, route, ctx.settings.haproxyImage);
            const configId = await reloadIngress(host, this.ingress, {
                ...records,
                routes: [...records.routes.filter((r) => r.deployment !== route.deployment), route],
            });
            await this.loaded(host, endpoints, configId);
        });
    }
    // Until the ingress serves the configuration of that id, still under the lock, so that the next
    // holder's reload comes only after this one took; one that did not take is signalled again. Seen
    // on Podman with five deploys at once: a route whose reload never showed, most likely a SIGUSR2
    // that came while HAProxy's master was still re-executing for the one before.
    async loaded(host, endpoints, configId) {
        const { ctx } = this;
        for (;;) {
            try {
                await ctx.waitUntilServing(endpoints, {
                    backend: servingBackendOf(ctx.settings.instancePrefix),
                    servers: [],
                    configId,
                    throughService: false,
                    deadline: Math.min(ctx.deadline, Date.now() + SIGNAL_AGAIN_AFTER_MS),
                    signal: ctx.signal,
                });
                return;
            }
            catch (error) {
                if (!(error instanceof NotReadyError) || Date.now() >= ctx.deadline)
                    throw error;
            }
            log_log.info(`Ingress '${ctx.settings.ingress.name}' has not loaded its new configuration after ${SIGNAL_AGAIN_AFTER_MS / 1000} s: signalling it again`);
            await host.signal(this.ingress.id, 'SIGUSR2');
        }
    }
}
// One deployment per host name: HAProxy would send the name's requests to the first route alone.
// Another repository's deployment may hold it, so it is not named.
function refuseTakenHostname(routes, ingress, hostname, deployment) {
    const holder = routes.find((r) => r.hostname === hostname && r.deployment !== deployment);
    if (holder)
        throw new Error(`Host name ${hostname} is served on ingress '${ingress}' by another deployment already. Choose another hostname, or tear that deployment down first.`);
}

;// CONCATENATED MODULE: ./src/steps/retire.ts

// The instances that served before and are no longer wanted leave once traffic has moved, with the
// companion services replaced or no longer listed, the volumes no listed service mounts, and what
// the load-balancer leaves (a replaced one).
async function retire(ctx, loadBalancer) {
    const { host, plan, record, services } = ctx;
    await loadBalancer.removeReplaced();
    const leaving = [...record.replacedServices.map((s) => s.id), ...services.removeAfter.map((s) => s.id)];
    if (leaving.length + services.removeVolumesAfter.length > 0) {
        const failures = await host.remove(leaving, [], services.removeVolumesAfter);
        if (failures.length > 0)
            throw new Error(`Could not remove old services: ${failures.join('; ')}`);
        record.changed = true;
        const removed = [
            ...record.replacedServices.map((s) => `${s.name} (replaced)`),
            ...services.removeAfter.map((s) => s.name),
            ...services.removeVolumesAfter.map((v) => `volume ${v}`),
        ];
        log_log.info(`Removed ${removed.join(', ')}`);
    }
    if (plan.removeAfter.length === 0)
        return;
    await loadBalancer.drain();
    await removeInstances(ctx, plan.removeAfter);
    record.changed = true;
    log_log.info(`Removed ${plan.removeAfter.map((i) => i.name).join(', ')}`);
}
async function removeInstances({ host }, instances) {
    const failures = await host.remove(instances.map((i) => i.id), []);
    if (failures.length > 0)
        throw new Error(`Could not remove old instances: ${failures.join('; ')}`);
}

;// CONCATENATED MODULE: ./src/steps/start.ts






// The network (when it is new) and the removal of stopped instances: before anything starts on it.
async function prepareHost(ctx) {
    const { plan, record, signal } = ctx;
    record.remember({});
    signal?.throwIfAborted();
    await ensureNetwork(ctx);
    if (plan.removeFirst.length > 0) {
        await removeInstances(ctx, plan.removeFirst);
        log_log.info(`Removed stopped instances: ${plan.removeFirst.map((i) => i.name).join(', ')}`);
    }
}
// The new instances, and what the load-balancer starts with them (a new or replaced one the
// companion services' phase did not start). `hostPrepared`: that phase (services/start.ts) ran
// first and prepared the host.
async function startAll(ctx, loadBalancer, hostPrepared = false) {
    if (!hostPrepared)
        await prepareHost(ctx);
    // One queue: the load-balancer is created and given its configuration in the first round, as
    // the instances are, and started last. Its HAProxy then looks up every instance as it starts
    // (init-addr) and checks none before its container runs. Started first, it found them by DNS as
    // they were created and checked some too early, which cost each of those about 0.6 s (traced at
    // N=20: 9 of 20 marked DOWN before their start, the last admitted 0.9 s after the last start;
    // with this order none, and 0.1 s). Created right before its start, as it was, it spent the
    // queue's last round on its create and archive requests. On a VCH its start is a VM boot like theirs.
    const lb = loadBalancer.startWithInstances();
    const networks = loadBalancer.instanceNetworks;
    const instances = ctx.plan.create.map((i) => () => startInstance(ctx, i.name, i.index, networks));
    await startQueue(ctx, lb ? createdFirstStartedLast(lb, instances) : instances);
}
function createdFirstStartedLast(lb, between) {
    let creating;
    const create = () => (creating ??= lb.create());
    return [create, ...between, () => create().then(() => lb.start())];
}
// Starts at most the host's startsAtOnce at a time. Every start settles before a failure is
// thrown, so that the undo finds all that was created; a cancelled run starts nothing more.
async function startQueue(ctx, tasks) {
    const { signal } = ctx;
    const outcomes = await limited(tasks, (task) => Promise.resolve()
        .then(() => signal?.throwIfAborted())
        .then(task)
        .then((value) => ({ ok: true, value }), (error) => ({ ok: false, error })), ctx.profile.startsAtOnce);
    signal?.throwIfAborted();
    for (const outcome of outcomes)
        if (!outcome.ok)
            throw outcome.error;
    return outcomes.map((outcome) => outcome.value);
}
// The deployment's network, created by the first step of the run that needs it: the release
// command's container (src/release) or the instances. The run creates no other network.
async function ensureNetwork(ctx) {
    const { host, plan, record } = ctx;
    if (!plan.createNetwork || record.createdNetworks.length > 0)
        return;
    const network = await host.createNetwork(ctx.netName, deploymentLabels(ctx.settings.instancePrefix, 'network'));
    record.createdNetworks.push(network);
    record.changed = true;
    log_log.info(`Created network ${ctx.netName}`);
}
// A container of the new generation as an instance runs it: image, env, secret-env, command and
// size, on the deployment's network only (the one network a VCH takes at create). The release
// command's container is one too, with its own command and labels.
function newGenerationSpec(ctx, name, labels, command) {
    const { settings, netName } = ctx;
    const config = command ? { ...settings.instanceConfig, command } : settings.instanceConfig;
    return {
        name,
        Image: settings.image,
        Labels: labels,
        ...containerConfigOf(config),
        HostConfig: { NetworkMode: netName, ...instanceResources(config, ctx.profile) },
        NetworkingConfig: { EndpointsConfig: { [netName]: {} } },
    };
}
async function startInstance(ctx, name, index, networks) {
    const { host, settings, record } = ctx;
    const labels = deploymentLabels(settings.instancePrefix, 'instance', {
        [LABEL.generation]: ctx.plan.generation,
        [LABEL.index]: String(index),
        [LABEL.port]: String(settings.instancePort),
    });
    const spec = newGenerationSpec(ctx, name, labels);
    const container = await host.createContainer({ ...spec, HostConfig: { ...spec.HostConfig, RestartPolicy: ctx.profile.restartPolicy } }).catch((error) => {
        throw new Error(`Could not create instance ${name} from ${settings.image}: ${describe(error)}`);
    });
    record.createdContainers.push(container);
    record.changed = true;
    for (const network of networks)
        await host.connect(network, container).catch((error) => {
            throw new Error(`Could not connect instance ${name} to network ${network}: ${describe(error)}`);
        });
    await host.start(container).catch((error) => {
        throw new Error(`Could not start instance ${name}: ${describe(error)}`);
    });
    log_log.info(`Started ${name}`);
}
// Env and Cmd only when given: absent, the image's own apply. The image's ENTRYPOINT stays, as
// with `docker run IMAGE COMMAND`. For instances and companion services alike.
function containerConfigOf({ env, secretEnv, command }) {
    const vars = [...env, ...secretEnv];
    return { ...(vars.length > 0 ? { Env: vars.map((v) => `${v.key}=${v.value}`) } : {}), ...(command ? { Cmd: command } : {}) };
}

;// CONCATENATED MODULE: ./src/steps/undo.ts



// A failed or cancelled run takes back what it did: the load-balancer serves as before first, then
// what the run created goes, then the companion services and the load-balancer it stopped are
// started again. It only warns.
async function undo(ctx, loadBalancer) {
    const { host, record } = ctx;
    await loadBalancer.restorePrevious();
    const failures = await host.remove(record.createdContainers, record.createdNetworks, record.createdVolumes);
    for (const { id, name } of record.replacedServices)
        await restartReplaced(host, id, name, 'service').catch((error) => failures.push(`restarting the previous service ${name}: ${describe(error)}`));
    failures.push(...(await loadBalancer.startReplacedAgain()));
    const count = record.createdContainers.length + record.createdNetworks.length + record.createdVolumes.length;
    if (failures.length > 0)
        log_log.warning(`Could not remove everything this run created; remove these by hand or run teardown: ${failures.join('; ')}`);
    else
        log_log.info(count > 0 ? `Removed the ${count} object(s) this run created` : 'This run created nothing');
}

;// CONCATENATED MODULE: ./src/release/run.ts





// The release command (release-command): a migration or a seed, run once per generation in a
// one-off container of the new image as its instances will run (env, secret-env, size, the
// deployment's network), after the companion services are up and before the generation's first
// instance starts: no request meets code whose schema is not there yet, and a failed command leaves
// the previous generation serving alone.
// How much of the command's output the log shows, and the failure's message.
const OUTPUT_LINES = 50;
const FAILURE_LINES = 10;
// Once per generation: when this run starts its first instances. A generation that already serves
// ran it when it started, so an unchanged re-run and a scale-up do not run it again. A generation
// none of whose instances runs (all stopped, or a failed deploy of it undone) starts anew and runs
// it again: the command has to be safe to repeat, as migrations are.
function releaseNeeded({ settings, plan }) {
    return !!settings.releaseCommand && plan.create.length > 0 && plan.create.length === plan.serving.length;
}
// Exit 0 goes on; any other outcome throws, and the deploy's undo takes back the new generation.
// The container is removed whatever happens; a killed run's post step finds it by the run label.
async function runRelease(ctx) {
    const { host, settings, plan, record } = ctx;
    const command = settings.releaseCommand;
    record.remember({});
    ctx.signal?.throwIfAborted();
    await ensureNetwork(ctx);
    await removeLeftovers(ctx);
    const name = releaseName(settings.instancePrefix, plan.generation);
    const labels = deploymentLabels(settings.instancePrefix, 'release', { [LABEL.generation]: plan.generation });
    // No restart policy: it runs once (and a VCH would ignore one).
    const id = await host.createContainer(newGenerationSpec(ctx, name, labels, command)).catch((error) => {
        throw new Error(`Could not create the release command's container ${name} from ${settings.image}: ${describe(error)}`);
    });
    record.createdContainers.push(id);
    record.changed = true;
    log_log.info(`Running the release command ${JSON.stringify(command)} in ${name} (${settings.image}) on network ${ctx.netName}`);
    const startedAt = Date.now();
    try {
        const exitCode = await exitCodeOf(ctx, id, name);
        const seconds = Math.round((Date.now() - startedAt) / 100) / 10;
        // Masked here as well as by the runner: the command may print what it was given (a password
        // in a connection string), and outside the runner the failure's message leaves the run too.
        const output = withSecretsMasked((await host.recentLogs(id, OUTPUT_LINES).catch((error) => `(output unavailable: ${describe(error)})`)).trimEnd());
        if (output) {
            log_log.info(`Its output (at most the last ${OUTPUT_LINES} lines):`);
            log_log.quote(output);
        }
        else
            log_log.info('It wrote no output.');
        if (exitCode === 0) {
            log_log.info(`The release command exited 0 after ${seconds} s: generation ${plan.generation} starts.`);
            return { seconds };
        }
        const last = output.split('\n').slice(-FAILURE_LINES).join('\n') || '(none)';
        const outcome = exitCode === 'timeout' ? `did not finish within wait-timeout (${settings.waitTimeoutSeconds} s)` : `exited with code ${exitCode}`;
        const fix = exitCode === 'timeout' ? 'Make it finish sooner or raise wait-timeout' : 'Fix the command or what it needs (services, env, secret-env)';
        throw new Error(`The release command ${outcome} after ${seconds} s: generation ${plan.generation} was not started, and what served before goes on serving. Its last output:\n${last}\n${fix}, then deploy again.`);
    }
    finally {
        await removeRelease(ctx, id, name);
    }
}
// Its exit code, or 'timeout' once the deploy's wait-timeout is up; a cancelled run throws at once.
async function exitCodeOf(ctx, id, name) {
    await ctx.host.start(id).catch((error) => {
        throw new Error(`Could not start the release command in ${name}: ${describe(error)}. Check that release-command names a program of ${ctx.settings.image}: it is run as the image's ENTRYPOINT's arguments, or else on its own, never through a shell.`);
    });
    ctx.signal?.throwIfAborted();
    const timeout = AbortSignal.timeout(Math.max(0, ctx.deadline - Date.now()));
    try {
        return await ctx.host.wait(id, ctx.signal ? AbortSignal.any([ctx.signal, timeout]) : timeout);
    }
    catch (error) {
        ctx.signal?.throwIfAborted();
        if (timeout.aborted)
            return 'timeout';
        throw new Error(`Lost track of the release command in ${name}: ${describe(error)}`);
    }
}
// Force-removed, which also stops a command still running. Once gone it leaves the record, so the
// undo does not count it as its own.
async function removeRelease(ctx, id, name) {
    try {
        await ctx.host.removeContainer(id);
        ctx.record.createdContainers = ctx.record.createdContainers.filter((c) => c !== id);
    }
    catch (error) {
        log_log.warning(`Could not remove the release command's container ${name}: ${describe(error)}. The next deploy of the deployment or its teardown removes it; or remove it with docker rm -f ${name}.`);
    }
}
// Left by a run killed before its post step removed it (stopped, or still running its command).
// This run holds the deployment's lock: no other run's command is running.
async function removeLeftovers(ctx) {
    const { host, settings } = ctx;
    const leftovers = await host.listContainers([`${LABEL.deployment}=${settings.instancePrefix}`, `${LABEL.role}=release`]);
    if (leftovers.length === 0)
        return;
    const names = leftovers.map((c) => c.name).join(', ');
    const failures = await host.remove(leftovers.map((c) => c.id), []);
    if (failures.length > 0)
        throw new Error(`Could not remove the release command's container(s) an earlier run left (${names}): ${failures.join('; ')}. Remove them with docker rm -f, or run teardown.`);
    log_log.info(`Removed the release command's container(s) an earlier run left: ${names}`);
}

;// CONCATENATED MODULE: ./src/services/plan.ts


// What a service's container runs, but the secret-env values: the hash is stored in a label. The
// image by ID, so that a new image under the same tag replaces the service.
function serviceSpecHash(spec, imageId) {
    const { env, secretEnv, command, port, volume, memoryBytes, cpus } = spec;
    return shortHash([imageId, { env, secretKeys: secretEnv.map((v) => v.key), command, port, volume, memoryBytes, cpus }]);
}
function volumeOf(deployment, spec) {
    return spec.volume === undefined ? undefined : { name: serviceVolumeName(deployment, spec.name, shortHash([spec.volume])), path: spec.volume };
}
// hashes: each listed service's serviceSpecHash; holdingSecrets: the services whose running
// container holds their secret-env values (asked of the host in memory, see steps/services.ts).
function planServices(deployment, services, hashes, holdingSecrets, state) {
    const plan = { keep: [], start: [], removeFirst: [], removeAfter: [], removeVolumesAfter: [], checked: [] };
    const volumes = new Set(state.volumes.map((v) => v.name));
    const wantedVolumes = new Set();
    const wantedNames = new Set();
    for (const spec of services) {
        const name = serviceContainerName(deployment, spec.name);
        const hash = hashes.get(spec.name);
        wantedNames.add(name);
        if (spec.port !== undefined)
            plan.checked.push({ name: spec.name, port: spec.port });
        const volume = volumeOf(deployment, spec);
        if (volume)
            wantedVolumes.add(volume.name);
        const current = state.services.find((s) => s.name === name);
        const secretsHeld = spec.secretEnv.length === 0 || holdingSecrets.has(spec.name);
        if (current?.running && current.spec === hash && secretsHeld) {
            plan.keep.push(current);
            continue;
        }
        if (current && !current.running)
            plan.removeFirst.push(current);
        plan.start.push({
            spec,
            name,
            hash,
            volume: volume && { ...volume, create: !volumes.has(volume.name) },
            replaces: current?.running ? current : undefined,
        });
    }
    plan.removeAfter = state.services.filter((s) => !wantedNames.has(s.name));
    plan.removeVolumesAfter = [...volumes].filter((v) => !wantedVolumes.has(v));
    return plan;
}
// Whether the services' phase has anything to do before the instances start (deploy.ts).
function servicesToStart(plan) {
    return plan.start.length + plan.removeFirst.length > 0;
}
function describeServices(plan) {
    const replaced = plan.start.filter((s) => s.replaces).length;
    return [
        `Services: ${plan.keep.length} kept, ${plan.start.length - replaced} to start, ${replaced} to replace`,
        plan.removeAfter.length > 0 ? `, ${plan.removeAfter.length} to remove` : '',
        plan.removeVolumesAfter.length > 0 ? `; ${plan.removeVolumesAfter.length} volume(s) to remove` : '',
        '.',
    ].join('');
}
// How errors name a service's memory field.
function serviceMemoryInput(service) {
    return `memory of service '${service}'`;
}

;// CONCATENATED MODULE: ./src/services/start.ts








// The companion services' phase of a deploy, before any instance starts: their volumes and
// containers on the deployment's network, and the wait until those with a port accept connections.
// The plan, with the secret-env values compared in memory: a running service's Config.Env is
// asked whether it holds them, as for instances (generationFor in deploy.ts).
async function servicesPlanFor(host, settings, imageIds, state) {
    const hashes = new Map(settings.services.map((spec, i) => [spec.name, serviceSpecHash(spec, imageIds[i])]));
    const holding = new Set();
    for (const spec of settings.services) {
        const running = state.services.find((s) => s.service === spec.name && s.running && s.spec === hashes.get(spec.name));
        if (spec.secretEnv.length > 0 && running && holdsValues((await host.inspect(running.id)).Config.Env ?? [], spec.secretEnv))
            holding.add(spec.name);
    }
    return planServices(settings.instancePrefix, settings.services, hashes, holding, state);
}
// Prepares the host for the instances' phase too (steps/start.ts startAll). Those with a port are
// waited for through the load-balancer: a new one starts first in their queue, since it must see
// them to check them.
async function startServices(ctx, loadBalancer) {
    const { host, services, record } = ctx;
    await prepareHost(ctx);
    if (services.removeFirst.length > 0) {
        const failures = await host.remove(services.removeFirst.map((s) => s.id), []);
        if (failures.length > 0)
            throw new Error(`Could not remove stopped services: ${failures.join('; ')}`);
        record.changed = true;
        log_log.info(`Removed stopped services: ${services.removeFirst.map((s) => s.name).join(', ')}`);
    }
    const waits = services.checked.length > 0;
    const lbStart = waits ? loadBalancer.startWithServices() : undefined;
    await startQueue(ctx, [...(lbStart ? [() => lbStart.create().then(() => lbStart.start())] : []), ...services.start.map((s) => () => startService(ctx, s))]);
    if (!waits)
        return;
    await loadBalancer.waitForServices();
    log_log.info(`Services accept connections: ${services.checked.map((s) => `${s.name}:${s.port}`).join(', ')}`);
}
async function startService(ctx, service) {
    const { host, settings, netName, record, profile } = ctx;
    const { spec, name, volume, replaces } = service;
    if (volume?.create) {
        await host
            .createVolume(volume.name, profile.volumeDriver, volumeOptions(profile), deploymentLabels(settings.instancePrefix, 'volume', { [LABEL.service]: spec.name, [LABEL.volumePath]: volume.path }))
            .catch((error) => {
            throw new Error(`Could not create volume ${volume.name} for service ${spec.name}: ${describe(error)}`);
        });
        record.createdVolumes.push(volume.name);
        record.changed = true;
    }
    // Created beside the container it replaces, which keeps its name until this one is ready to start.
    const created = replaces ? besideName(name, 'next') : name;
    const container = await host
        .createContainer({
        name: created,
        Image: spec.image,
        Labels: deploymentLabels(settings.instancePrefix, 'service', { [LABEL.service]: spec.name, [LABEL.serviceSpec]: service.hash }),
        ...containerConfigOf(spec),
        HostConfig: {
            NetworkMode: netName,
            ...(volume ? { Binds: [`${volume.name}:${volume.path}`] } : {}),
            ...instanceResources(spec, profile, serviceMemoryInput(spec.name)),
            RestartPolicy: profile.restartPolicy,
        },
        // One network at create (a VCH allows no more); the instances reach it by the service's name.
        NetworkingConfig: { EndpointsConfig: { [netName]: { Aliases: [spec.name] } } },
    })
        .catch((error) => {
        throw new Error(`Could not create service ${spec.name} (${created}) from ${spec.image}: ${describe(error)}`);
    });
    record.createdContainers.push(container);
    record.changed = true;
    if (replaces) {
        // Stopped (its data must not be written by two containers) and kept until traffic has moved,
        // so that a failed deploy starts it again.
        ctx.signal?.throwIfAborted();
        record.replacedServices.push({ id: replaces.id, name });
        record.remember({ replacedServices: record.replacedServices });
        await host.stop(replaces.id, 10);
        await host.rename(replaces.id, besideName(name, 'old'));
        await host.rename(container, name);
        log_log.info(`Stopped service ${spec.name} to replace it`);
    }
    await host.start(container).catch((error) => {
        throw new Error(`Could not start service ${spec.name} (${name}): ${describe(error)}`);
    });
    log_log.info(`Started service ${spec.name} (${name})`);
}
function volumeOptions(profile) {
    return profile.volumeStore ? { VolumeStore: profile.volumeStore } : {};
}

;// CONCATENATED MODULE: ./src/deploy.ts





















// Pulls happen before the deployment's lock is taken: they change no deployment and can be slow.
async function pullImages(host, profile, settings, signal) {
    const options = { policy: settings.pull, auth: settings.registryAuth, signal, localImageNamespace: profile.localImageNamespace };
    const references = [settings.image, settings.haproxyImage, ...settings.services.map((s) => s.image)];
    const pulled = await log_log.group('Pull images', () => Promise.all(references.map((ref) => obtainImage(host, ref, options, log_log.info))));
    for (const { warning } of pulled)
        if (warning)
            log_log.warning(warning);
    const [image, haproxyImage, ...serviceImages] = pulled;
    return { image: image, haproxyImage: haproxyImage, serviceImages };
}
// Runs under the deployment's lock: what the host has is read here, not before, and planned; then
// the steps run (deploySteps).
async function deploy(host, engine, settings, { image, haproxyImage, serviceImages }, signal, 
// Runs a change of a shared ingress's routes under its lock (settings.ingress only).
underIngressLock) {
    const deadline = Date.now() + settings.waitTimeoutSeconds * 1000;
    // A routed deployment without companion services has no network of its own: its instances are on
    // the ingress's, where the ingress reaches them. Hosts limit networks, not previews: dockerd's
    // default address pools give about 30, a VCH's default bridge range 16.
    const onIngressNetwork = !!settings.ingress && settings.services.length === 0;
    const netName = networkName(onIngressNetwork ? settings.ingress.name : settings.instancePrefix);
    const objects = await listDeployment(host, settings.instancePrefix);
    // Again under the lock: another owner's run may have created the deployment since checkHost.
    const ownership = checkOwnershipOf(objects, settings.instancePrefix, settings.owner, 'deploy');
    if (ownership.kind === 'unowned')
        log_log.info(`Deployment '${settings.instancePrefix}' has no owner label (an earlier version of vic-lb-action created it): ${settings.owner} adopts it, and the objects this run creates record ${settings.owner} as their owner.`);
    const settled = await settleInterruptedReplacement(host, objects.containers, settings.lbName);
    const state = deploymentState(settled ? await listDeployment(host, settings.instancePrefix) : objects);
    const lbSpec = lbSpecOf(haproxyImage.id, settings.externalNetwork, settings.lbPort, !!settings.certificate, settings.httpRedirectPort);
    const planned = planDeploy({
        deployment: settings.instancePrefix,
        generation: await generationFor(host, settings, image.id, state),
        instances: settings.instances,
        instancePort: settings.instancePort,
        lbName: settings.lbName,
        lbSpec,
    }, state);
    const plan = onIngressNetwork ? { ...planned, createNetwork: false } : planned;
    const services = await servicesPlanFor(host, settings, serviceImages.map((i) => i.id), state);
    log_log.info(describePlan(plan, state, settings.ingress));
    if (settings.services.length + state.services.length > 0)
        log_log.info(describeServices(services));
    const resources = describeResources(instanceResources(settings.instanceConfig, engine.host), engine.host);
    if (resources)
        log_log.info(resources);
    if (engine.host.note)
        log_log.info(engine.host.note);
    const ctx = {
        host,
        profile: engine.host,
        publishedHost: engine.target.publishedHost,
        settings,
        plan,
        services,
        netName,
        deadline,
        signal,
        record: new UndoRecord(settings),
        waitUntilServing: waitUntilServing,
        waitUntilListening: waitUntilListening,
    };
    // Chosen once, here: the steps only know the interface.
    const loadBalancer = settings.ingress ? await ingressRoute(ctx, state, underIngressLock) : await ownLoadBalancer(ctx, state, lbSpec);
    return deploySteps(ctx, loadBalancer);
}
// The deploy's steps in their order, the load-balancer's part through its interface. Cancelled
// (ctx.signal) at any moment before traffic has switched, the run takes back what it did; after, it finishes.
async function deploySteps(ctx, loadBalancer) {
    const { plan, services, signal } = ctx;
    let switched;
    let release;
    try {
        // Companion services first, when there are any to start or to wait for: the instances need
        // them from their first request. Without, the flow is one phase, as before there were services.
        const servicesFirst = servicesToStart(services);
        if (servicesFirst)
            await log_log.group('Start companion services', () => startServices(ctx, loadBalancer));
        // The release command (a one-off container of the new image): the services are up, no new
        // instance has started and no traffic has moved.
        release = releaseNeeded(ctx) ? await log_log.group('Release command', () => runRelease(ctx)) : undefined;
        // The load-balancer's switch is prepared while the instances start; both settle before
        // either's failure is thrown, so that the undo finds all that was done.
        const [started, prepared] = await log_log.group('Start instances and load-balancer', () => Promise.allSettled([startAll(ctx, loadBalancer, servicesFirst), loadBalancer.prepareSwitch()]));
        if (started.status === 'rejected')
            throw started.reason;
        if (prepared.status === 'rejected')
            throw prepared.reason;
        switched = await log_log.group('Wait until every instance serves through the load-balancer', () => loadBalancer.switchTraffic());
    }
    catch (error) {
        await log_log.group(signal?.aborted ? 'Deploy cancelled: undo this run' : 'Deploy failed: undo this run', () => undo(ctx, loadBalancer).catch((undoError) => {
            // Whoever holds the deployment now settles what this run left.
            if (!(undoError instanceof LeaseLostError))
                throw undoError;
            log_log.warning(`Stopped undoing: ${undoError.message}`);
        }));
        ctx.record.settled();
        throw error;
    }
    // Traffic has moved: from here on the run completes, cancelled or not, and there is nothing for
    // the post step to take back. What is left to remove serves no more: failing to remove it is
    // said, never undone, since the undo would take down what serves now.
    ctx.record.settled();
    await retire(ctx, loadBalancer).catch((error) => log_log.warning(`Generation ${plan.generation} serves, but what it replaced was not all removed: ${describe(error)}. It gets no traffic; the next deploy of the deployment removes it, or remove it by hand.`));
    return {
        ...switched.address,
        lbContainer: loadBalancer.container,
        instances: plan.serving.map((s) => s.name),
        statuses: switched.statuses,
        config: loadBalancer.configWithoutSecrets(),
        changed: ctx.record.changed,
        release,
    };
}
// secret-env values are not part of the generation's hash, which labels store: whether they
// changed is asked of a running instance of the same settings instead, in memory.
async function generationFor(host, settings, imageId, state) {
    const { secretEnv } = settings.instanceConfig;
    const settingsGeneration = generationOf(imageId, settings.instancePort, settings.instanceConfig);
    if (secretEnv.length === 0)
        return settingsGeneration;
    let matching;
    for (const generation of generationsWithSettings(state, settingsGeneration)) {
        const instance = state.instances.find((i) => i.generation === generation && i.running);
        const { Config } = await host.inspect(instance.id);
        if (holdsValues(Config.Env ?? [], secretEnv))
            matching = generation;
    }
    return generationWithSecrets(settingsGeneration, matching, (0,external_node_crypto_.randomBytes)(3).toString('hex'));
}
// Everything that can be found wrong before the host is changed.
async function checkHost(host, engine, settings) {
    await checkOwner(host, settings.instancePrefix, settings.owner, 'deploy');
    const { cpus } = settings.instanceConfig;
    instanceResources(settings.instanceConfig, engine.host);
    for (const service of settings.services)
        instanceResources(service, engine.host, serviceMemoryInput(service.name));
    // A host that limits containers refuses more CPUs than it has, but only once the instance is
    // created; a containerVM's vCPUs are not bounded by the VCH's own count.
    const sized = [{ input: 'instance-cpus', cpus }, ...settings.services.map((s) => ({ input: `cpus of service '${s.name}'`, cpus: s.cpus }))].filter((s) => s.cpus);
    if (sized.length > 0 && engine.host.instanceSize === 'cgroup-limits') {
        const NCPU = await host.cpuCount();
        const over = sized.find((s) => NCPU && s.cpus > NCPU);
        if (over)
            throw new InputError(`Invalid ${over.input} ${over.cpus}: the Docker host has ${NCPU} CPU(s). Give at most ${NCPU}.`);
    }
    await checkVolumeStore(host, engine.host, settings);
    const netName = networkName(settings.instancePrefix);
    const [lbDeployment, netDeployment, external] = await Promise.all([
        deploymentOf(host, 'container', settings.lbName),
        deploymentOf(host, 'network', netName),
        settings.externalNetwork ? deploymentOf(host, 'network', settings.externalNetwork) : Promise.resolve(''),
    ]);
    refuseForeign('container', settings.lbName, lbDeployment, settings.instancePrefix, 'lb-name');
    refuseForeign('network', netName, netDeployment, settings.instancePrefix, 'instance-prefix');
    if (external === undefined)
        throw new Error(`External network '${settings.externalNetwork}' does not exist on the Docker host. On a VCH use one of its --container-network names (docker network ls); on a plain Docker Engine set external-network to '' to publish lb-port on the host.`);
}
// A VCH keeps volumes in volume stores that vic-machine was given; one without the store the action
// uses cannot create a service's volume, which would fail only once the deploy is under way.
async function checkVolumeStore(host, profile, settings) {
    const needing = settings.services.filter((s) => s.volume !== undefined).map((s) => s.name);
    if (!profile.volumeStore || needing.length === 0)
        return;
    const stores = (await host.volumeStores()) ?? [];
    if (stores.includes(profile.volumeStore))
        return;
    throw new Error(`The VCH has no volume store named '${profile.volumeStore}' (it has ${stores.length > 0 ? stores.map((s) => `'${s}'`).join(', ') : 'none'}), and service(s) ${needing.join(', ')} need a volume. Ask the vSphere administrator to add one with vic-machine configure --volume-store <datastore>/<path>:${profile.volumeStore}, or remove volume from these services.`);
}
function refuseForeign(kind, name, labelled, deployment, input) {
    if (labelled === undefined || labelled === deployment)
        return;
    const whose = labelled === '' ? 'was not created by vic-lb-action' : `belongs to deployment '${labelled}'`;
    throw new Error(`A ${kind} named '${name}' already exists on the Docker host and ${whose}. Remove it or choose another ${input}.`);
}
function describePlan(plan, state, ingress) {
    const kept = plan.serving.length - plan.create.length;
    return [
        `Generation ${plan.generation}: ${kept} instance(s) kept, ${plan.create.length} to start`,
        plan.removeAfter.length + plan.removeFirst.length > 0 ? `, ${plan.removeAfter.length + plan.removeFirst.length} to remove` : '',
        ingress ? `; served as ${ingress.hostname} on ingress '${ingress.name}'.` : `; load-balancer: ${plan.lb === 'keep' ? `keep ${state.lb?.name}` : plan.lb}.`,
    ].join('');
}

;// CONCATENATED MODULE: ./src/teardown.ts





// Removes every container, network and volume labelled as this deployment's, containers first:
// also the `<lb>-next` or `<lb>-old` an interrupted load-balancer replacement left beside the
// load-balancer. The companion services' volumes go with them: their data lasts as long as the
// deployment.
// Objects of other deployments and the external network carry no such label and are never
// touched; a deployment another owner's objects carry is refused before anything is removed.
// `lock`: how to take a shared ingress's lock, for a routed deployment's route (ingress/unroute.ts).
async function teardown(host, deployment, owner, lock) {
    const objects = await listDeployment(host, deployment);
    const ownership = checkOwnershipOf(objects, deployment, owner, 'teardown');
    if (ownership.kind === 'unowned')
        log_log.info(`Deployment '${deployment}' has no owner label (an earlier version of vic-lb-action created it): ${owner} removes it.`);
    // A routed deployment's record goes with its route, first.
    const route = objects.containers.find((c) => c.labels[LABEL.role] === 'route' && c.labels[LABEL.ingress]);
    if (route)
        await unroute(host, deployment, route.labels[LABEL.ingress], lock);
    // The lock is the caller's, and goes when it releases it. Instances listed (and logged) before
    // the load-balancer.
    const containers = objects.containers
        .filter((c) => c.labels[LABEL.role] !== 'lock' && c !== route)
        .sort((a, b) => Number(b.labels[LABEL.role] === 'instance') - Number(a.labels[LABEL.role] === 'instance'));
    const removed = [...containers, ...objects.networks, ...objects.volumes].map((o) => o.name);
    if (removed.length === 0) {
        log_log.info(`Nothing to remove: no containers, networks or volumes of deployment '${deployment}' on the Docker host.`);
        return { removed };
    }
    const failures = await host.remove(containers.map((c) => c.id), objects.networks.map((n) => n.id), objects.volumes.map((v) => v.name));
    if (failures.length > 0)
        throw new Error(`Teardown of deployment '${deployment}' could not remove: ${failures.join('; ')}. Run teardown again; if it keeps failing, remove these objects with the docker CLI.`);
    log_log.info(`Removed ${removed.length} object(s) of deployment '${deployment}': ${removed.join(', ')}`);
    return { removed };
}

;// CONCATENATED MODULE: ./src/github/comment-text.ts
// What the pull request comment says. Pure: the same facts give the same text, so a re-run that
// changed nothing edits the comment only to move its time.
// The comment is found again by this line, which Markdown does not show.
function commentMarker(deployment) {
    return `<!-- vic-lb-action:deployment=${deployment} -->`;
}
function isCommentOf(body, deployment) {
    return (body ?? '').includes(commentMarker(deployment));
}
function renderDeployedComment(env) {
    return [
        commentMarker(env.deployment),
        `### Preview environment \`${env.deployment}\``,
        '',
        `**URL:** ${env.url}  `,
        `**Image:** \`${env.image}\``,
        '',
        '| Instance | State behind the load-balancer |',
        '| --- | --- |',
        ...env.instances.map((i) => `| \`${i.name}\` | ${cell(i.state)} |`),
        '',
        `Deployed ${env.instances.length} instance(s), ${utc(env.at)}${by(env.runUrl)}.`,
    ].join('\n');
}
function renderRemovedComment(env) {
    return [
        commentMarker(env.deployment),
        `### Preview environment \`${env.deployment}\`: removed`,
        '',
        `Its containers and network were removed ${utc(env.at)}${by(env.runUrl)} (${env.reason}). Its URL no longer serves.`,
    ].join('\n');
}
// Written out in UTC, to the second: readers are in every time zone.
function utc(at) {
    return `${at.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}
function by(runUrl) {
    return runUrl ? ` by [this run](${runUrl})` : '';
}
// A table cell ends at the next '|'.
function cell(text) {
    return text.replace(/\|/g, '\\|');
}

;// CONCATENATED MODULE: ./src/github/comment.ts

const PAGE_SIZE = 100;
async function publishComment(api, pr, deployment, body, mode) {
    const repository = { owner: pr.owner, repo: pr.repo };
    const existing = await findComment(api, pr, deployment);
    if (existing) {
        const { data } = await api.rest.issues.updateComment({ ...repository, comment_id: existing.id, body });
        return { action: 'updated', url: data.html_url };
    }
    if (mode === 'update-only')
        return { action: 'none' };
    const { data } = await api.rest.issues.createComment({ ...repository, issue_number: pr.number, body });
    return { action: 'created', url: data.html_url };
}
// The oldest comment with the deployment's marker: should two runs ever have created one each,
// the first goes on being the one that is edited.
async function findComment(api, pr, deployment) {
    for (let page = 1;; page++) {
        const { data } = await api.rest.issues.listComments({ owner: pr.owner, repo: pr.repo, issue_number: pr.number, per_page: PAGE_SIZE, page });
        const found = data.find((comment) => isCommentOf(comment.body, deployment));
        if (found)
            return found;
        if (data.length < PAGE_SIZE)
            return undefined;
    }
}

;// CONCATENATED MODULE: ./src/github/announce.ts






function deployedEnvironment(deployment, image, result, at, runUrl) {
    return {
        deployment,
        url: result.url,
        image,
        instances: result.instances.map((name) => ({ name, state: describeServer(result.statuses, SERVING_BACKEND, name) })),
        at,
        runUrl,
    };
}
function announceDeployed(api, pr, env, log = log_log) {
    return announce(api, pr, env.deployment, renderDeployedComment(env), 'create-or-update', log);
}
function announceRemoved(api, pr, env, log = log_log) {
    return announce(api, pr, env.deployment, renderRemovedComment(env), 'update-only', log);
}
async function announce(api, pr, deployment, body, mode, log) {
    if (!api || !pr) {
        log.debug(`No pull request comment for deployment '${deployment}': ${!api ? 'no github-token given' : 'the run is not for a pull request'}.`);
        return;
    }
    try {
        const outcome = await publishComment(api, pr, deployment, body, mode);
        if (outcome.action === 'created')
            log.info(`Commented on pull request ${formatPullRequest(pr)}: ${outcome.url}`);
        if (outcome.action === 'updated')
            log.info(`Updated the comment on pull request ${formatPullRequest(pr)}: ${outcome.url}`);
    }
    catch (error) {
        log.warning(`Could not comment on pull request ${formatPullRequest(pr)} about deployment '${deployment}': ${error instanceof Error ? error.message : String(error)}. The deployment itself is not affected; check that github-token may write pull requests (permissions: pull-requests: write).`);
    }
}

;// CONCATENATED MODULE: ./src/github/deployments.ts



// GitHub Deployments: the pull request shows its environment, whether the deploy is in progress,
// ready (with the URL) or failed, and that it is gone after teardown. Like the comment, a courtesy:
// failing to record one is a warning, never a failed deploy.
//
// One GitHub deployment per commit and deployment on the Docker host: a re-run of the same commit
// adds statuses to it instead of creating another. Its `task` names the deployment on the Docker
// host, since one environment (by default `preview`) holds the deployments of every pull request.
// Outside a workflow run (the CLI) there is no repository to record a deployment in.
function currentEnvironment(environment, deployment, env = process.env) {
    const repository = currentRepository(env);
    return repository && { ...repository, environment, deployment, logUrl: runUrlOf(env) };
}
const deployments_PAGE_SIZE = 100;
const DESCRIPTION_MAX = 140;
// Pure: GitHub's `task` of the deployments of one deployment on the Docker host.
function deploymentTask(deployment) {
    return `deploy:${deployment}`;
}
// Secrets masked as in the log (a failure's reason may quote the Docker host's address), and cut
// to the 140 characters GitHub takes.
function statusDescription(text) {
    const masked = withSecretsMasked(text);
    return masked.length <= DESCRIPTION_MAX ? masked : `${masked.slice(0, DESCRIPTION_MAX - 1)}…`;
}
// The deployment of this commit if an earlier run made one, else a new one. Transient and not
// production: GitHub lets the environment be, and shows it as a preview.
async function findOrCreateDeployment(api, where, ref) {
    const repository = { owner: where.owner, repo: where.repo };
    const task = deploymentTask(where.deployment);
    const { data: existing } = await api.rest.repos.listDeployments({ ...repository, sha: ref, task, environment: where.environment, per_page: 1 });
    if (existing[0])
        return existing[0].id;
    const { data } = await api.rest.repos.createDeployment({
        ...repository,
        ref,
        task,
        environment: where.environment,
        description: `vic-lb-action deployment ${where.deployment}`,
        auto_merge: false,
        required_contexts: [],
        transient_environment: true,
        production_environment: false,
    });
    if (!('id' in data))
        throw new Error(`GitHub created no deployment: ${data.message ?? 'no reason given'}`);
    return data.id;
}
// auto_inactive is off: with an environment shared by every pull request, GitHub would make the
// other pull requests' deployments inactive whenever one succeeds. retireDeployments does it for
// this deployment's own.
async function setDeploymentState(api, where, id, state, description, environmentUrl) {
    await api.rest.repos.createDeploymentStatus({
        owner: where.owner,
        repo: where.repo,
        deployment_id: id,
        state,
        description: statusDescription(description),
        environment_url: environmentUrl,
        log_url: where.logUrl,
        auto_inactive: false,
    });
}
// Makes this deployment's GitHub deployments inactive, but `keep`; returns how many. Only the
// newest page is looked at: every earlier success retired those before it.
async function retireDeployments(api, where, description, keep) {
    const repository = { owner: where.owner, repo: where.repo };
    const task = deploymentTask(where.deployment);
    const { data } = await api.rest.repos.listDeployments({ ...repository, task, environment: where.environment, per_page: deployments_PAGE_SIZE });
    let retired = 0;
    for (const { id } of data.filter((d) => d.id !== keep)) {
        const { data: statuses } = await api.rest.repos.listDeploymentStatuses({ ...repository, deployment_id: id, per_page: 1 });
        if (statuses[0]?.state === 'inactive')
            continue;
        await setDeploymentState(api, where, id, 'inactive', description);
        retired++;
    }
    return retired;
}
const NOT_RECORDED = { ready: async () => { }, failed: async () => { } };
// Creates (or finds) the deployment and sets it in progress. After a first refusal it asks GitHub
// nothing more, so a missing permission is one warning.
async function recordDeployment(api, where, ref, log = log_log) {
    const missing = !api ? 'no github-token given' : !where ? 'GITHUB_REPOSITORY is not set' : !ref ? 'no commit: neither a pull request nor GITHUB_SHA' : '';
    if (!api || !where || !ref) {
        log.debug(`No GitHub deployment: ${missing}.`);
        return NOT_RECORDED;
    }
    let id;
    try {
        id = await findOrCreateDeployment(api, where, ref);
        await setDeploymentState(api, where, id, 'in_progress', `Deploying ${where.deployment}`);
    }
    catch (error) {
        warnNotRecorded(log, where, error);
        return NOT_RECORDED;
    }
    log.info(`GitHub deployment ${id} of ${ref.slice(0, 12)} in environment '${where.environment}': in progress`);
    // For the post step, should this run be killed before it can say how the deploy ended.
    rememberGitHubDeployment({ ...where, id });
    const settle = async (state, description, url, retire = false) => {
        try {
            await setDeploymentState(api, where, id, state, description, url);
            log.info(`GitHub deployment ${id}: ${state}`);
            if (retire)
                await retireDeployments(api, where, `Replaced by deployment ${id}`, id);
        }
        catch (error) {
            warnNotRecorded(log, where, error);
        }
        finally {
            rememberGitHubDeployment(undefined);
        }
    };
    return {
        ready: (url) => settle('success', `${where.deployment} serves ${url}`, url, true),
        failed: (reason) => settle('failure', reason),
    };
}
// Teardown and prune: the environment no longer serves.
async function recordRemoved(api, where, reason, log = log_log) {
    if (!api || !where)
        return;
    try {
        const retired = await retireDeployments(api, where, `Removed (${reason})`);
        if (retired > 0)
            log.info(`Marked ${retired} GitHub deployment(s) of '${where.deployment}' in environment '${where.environment}' inactive`);
    }
    catch (error) {
        warnNotRecorded(log, where, error);
    }
}
// The post step, after a main step that was killed while its GitHub deployment was in progress.
async function recordInterrupted(api, pending, log = log_log) {
    if (!api)
        return;
    try {
        await setDeploymentState(api, pending, pending.id, 'failure', 'The run was stopped before the deploy finished (cancelled, or its runner lost)');
        log.info(`GitHub deployment ${pending.id}: failure`);
    }
    catch (error) {
        warnNotRecorded(log, pending, error);
    }
}
function warnNotRecorded(log, where, error) {
    log.warning(`Could not record the GitHub deployment of '${where.deployment}' in environment '${where.environment}': ${error instanceof Error ? error.message : String(error)}. The deployment itself is not affected; to record it, add \`deployments: write\` to the job's permissions.`);
}

;// CONCATENATED MODULE: ./src/github/pulls.ts

async function pullRequestStates(api, pullRequests) {
    const states = { closed: new Set(), unknown: [] };
    for (const pr of pullRequests) {
        try {
            const { data } = await api.rest.pulls.get({ owner: pr.owner, repo: pr.repo, pull_number: pr.number });
            if (data.state === 'closed')
                states.closed.add(formatPullRequest(pr));
        }
        catch (error) {
            states.unknown.push(`${formatPullRequest(pr)}: ${error instanceof Error ? error.message : String(error)}`);
        }
    }
    return states;
}

;// CONCATENATED MODULE: ./src/prune.ts











// `*` matches any characters; everything else itself.
function matchesPattern(deployment, pattern) {
    const source = pattern
        .split('*')
        .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*');
    return new RegExp(`^${source}$`).test(deployment);
}
function summarizeDeployments(objects) {
    const byDeployment = new Map();
    for (const object of objects)
        byDeployment.set(object.deployment, [...(byDeployment.get(object.deployment) ?? []), object]);
    return [...byDeployment]
        .map(([deployment, group]) => {
        const newestFirst = [...group].sort((a, b) => b.created.getTime() - a.created.getTime());
        const pullRequest = newestFirst.find((o) => o.pullRequest)?.pullRequest;
        return { deployment, newest: newestFirst[0].created, owners: [...new Set(group.map((o) => o.owner))].sort(), ...(pullRequest ? { pullRequest } : {}) };
    })
        .sort((a, b) => a.deployment.localeCompare(b.deployment));
}
function decide(summary, policy) {
    const { deployment, pullRequest } = summary;
    const verdict = (remove, reason) => ({ deployment, remove, reason, ...(pullRequest ? { pullRequest } : {}) });
    const ownership = ownershipOf(summary.owners, policy.owner);
    if (ownership.kind === 'foreign')
        return verdict(false, `belongs to ${ownership.owner}`);
    // Made before owner labels: whose it is cannot be told, so only its age may remove it.
    const unowned = ownership.kind === 'unowned';
    if (!unowned && pullRequest && policy.closedPullRequests.has(pullRequest))
        return verdict(true, `pull request ${pullRequest} is closed`);
    const ageSeconds = Math.max(0, Math.floor((policy.now.getTime() - summary.newest.getTime()) / 1000));
    const age = `last changed ${formatDuration(ageSeconds)} ago`;
    if (policy.maxAgeSeconds === undefined) {
        if (unowned)
            return verdict(false, 'no owner label (an earlier version created it), and no max-age');
        return verdict(false, pullRequest ? `pull request ${pullRequest} is not known to be closed` : 'no pull request, and no max-age');
    }
    if (ageSeconds > policy.maxAgeSeconds)
        return verdict(true, `${age}, longer than max-age ${formatDuration(policy.maxAgeSeconds)}`);
    return verdict(false, `${age}, within max-age ${formatDuration(policy.maxAgeSeconds)}`);
}
function planPrune(summaries, policy) {
    return summaries.map((summary) => decide(summary, policy));
}
// The two largest units, e.g. '3d 4h', '90m' as '1h 30m', '0s'.
function formatDuration(seconds) {
    const units = [
        ['d', 86400],
        ['h', 3600],
        ['m', 60],
        ['s', 1],
    ];
    let rest = seconds;
    const parts = units.map(([unit, size]) => {
        const count = Math.floor(rest / size);
        rest -= count * size;
        return count > 0 ? `${count}${unit}` : '';
    });
    return parts.filter(Boolean).slice(0, 2).join(' ') || '0s';
}
// Pure: an object's labels (and Docker's own creation time, for an object whose label was lost)
// to what pruning needs.
function objectOf(labels, createdOnHost) {
    const deployment = labels[LABEL.deployment];
    if (!deployment)
        return undefined;
    const labelled = new Date(labels[LABEL.created] ?? '');
    const pullRequest = labels[LABEL.pullRequest];
    return {
        deployment,
        role: labels[LABEL.role] ?? '',
        created: Number.isNaN(labelled.getTime()) ? createdOnHost : labelled,
        owner: labels[LABEL.owner] ?? '',
        ...(pullRequest ? { pullRequest } : {}),
    };
}
async function prune(host, settings, context) {
    const all = summarizeDeployments(await listObjects(host, [LABEL.deployment]));
    const matching = all.filter((s) => matchesPattern(s.deployment, settings.deployments));
    const candidates = matching.filter((s) => ownershipOf(s.owners, settings.owner).kind !== 'foreign');
    const repository = currentRepository();
    const owned = candidates.filter((s) => ownershipOf(s.owners, settings.owner).kind === 'ours');
    const closed = await closedPullRequests(context.github, repository, owned);
    const policy = () => ({ owner: settings.owner, now: new Date(), maxAgeSeconds: settings.maxAgeSeconds, closedPullRequests: closed });
    const plan = planPrune(candidates, policy());
    const report = {
        removed: [],
        kept: plan.filter((d) => !d.remove),
        unmatched: all.length - matching.length,
        otherOwners: matching.length - candidates.length,
        failed: [],
    };
    for (const decision of plan.filter((d) => d.remove)) {
        try {
            // A deploy may have been waiting for, or holding, the lock: decide again on what is there now.
            const outcome = await withDeploymentLock(host, decision.deployment, { ...context.lock, operation: 'prune' }, async (leased) => {
                const objects = (await listObjects(leased, [`${LABEL.deployment}=${decision.deployment}`])).filter((o) => o.role !== 'lock');
                const [current] = summarizeDeployments(objects);
                const again = current ? decide(current, policy()) : { ...decision, reason: `${decision.reason}; only its lock was left` };
                if (again.remove)
                    await teardown(leased, decision.deployment, settings.owner, context.lock);
                return again.remove ? again : { ...again, reason: `changed while prune waited: ${again.reason}` };
            });
            (outcome.remove ? report.removed : report.kept).push(outcome);
            if (outcome.remove && repository) {
                const reason = `pruned: ${outcome.reason}`;
                await announceRemoved(context.github, pullRequestOfRepository(outcome.pullRequest, repository), {
                    deployment: outcome.deployment,
                    at: new Date(),
                    reason,
                    runUrl: runUrlOf(),
                });
                if (context.environment)
                    await recordRemoved(context.github, currentEnvironment(context.environment, outcome.deployment), reason);
            }
        }
        catch (error) {
            report.failed.push({ deployment: decision.deployment, error: describe(error) });
        }
    }
    return report;
}
// Volumes count too: a deployment whose last objects are its services' volumes is still pruned.
// Their creation time is read from their label only (a VCH reports none).
async function listObjects(host, labels) {
    const [containers, networks, volumes] = await Promise.all([host.listContainers(labels), host.listNetworks(labels), host.listVolumes(labels)]);
    return [...containers, ...networks, ...volumes.map((v) => ({ ...v, created: new Date(0) }))]
        .map((o) => objectOf(o.labels, o.created))
        .filter((o) => o !== undefined);
}
// Only this repository's pull requests are asked about: the token is for this repository.
async function closedPullRequests(github, repository, candidates) {
    if (!github)
        return new Set();
    if (!repository) {
        log_log.warning('github-token is given but GITHUB_REPOSITORY is not set: no pull request is asked about, so only max-age removes deployments.');
        return new Set();
    }
    const ours = candidates.map((c) => pullRequestOfRepository(c.pullRequest, repository)).filter((pr) => pr !== undefined);
    const states = await pullRequestStates(github, ours);
    for (const failure of states.unknown)
        log_log.warning(`Could not read the state of pull request ${failure}; its deployment is kept.`);
    return states.closed;
}
function pullRequestOfRepository(label, repository) {
    const pr = parsePullRequest(label);
    return pr && inRepository(pr, repository) ? pr : undefined;
}
// The log and the job summary say what went and what stayed, each with why.
function describePrune(report, pattern) {
    const line = (d) => `  ${d.deployment}: ${d.reason}`;
    return [
        `Deployments matching '${pattern}': ${report.removed.length + report.kept.length + report.failed.length}; ${report.otherOwners} of other owners and ${report.unmatched} other(s) on the Docker host left alone.`,
        `Removed ${report.removed.length}${report.removed.length ? ':' : '.'}`,
        ...report.removed.map(line),
        `Kept ${report.kept.length}${report.kept.length ? ':' : '.'}`,
        ...report.kept.map(line),
        ...(report.failed.length ? [`Could not remove ${report.failed.length}:`, ...report.failed.map((f) => `  ${f.deployment}: ${f.error}`)] : []),
    ];
}
async function summarizePrune(report, pattern) {
    if (!process.env.GITHUB_STEP_SUMMARY)
        return;
    const rows = [
        ...report.removed.map((d) => [d.deployment, 'removed', d.reason]),
        ...report.failed.map((f) => [f.deployment, 'could not be removed', f.error]),
        ...report.kept.map((d) => [d.deployment, 'kept', d.reason]),
    ].map((row) => row.map(prune_escape));
    await core.summary
        .addHeading(`Prune of deployments matching ${prune_escape(pattern)}`, 2)
        .addTable([
        [
            { data: 'Deployment', header: true },
            { data: 'Outcome', header: true },
            { data: 'Why', header: true },
        ],
        ...rows,
    ])
        .write();
}
function prune_escape(text) {
    return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

;// CONCATENATED MODULE: ./src/ingress/remove.ts


// Removing the shared ingress is explicit (command remove-ingress) and refused while deployments
// are routed through it, unless forced. Forced, their route records stay: the next deploy that
// names the ingress makes it again with every route. Runs under the ingress's lock.
async function removeIngress(host, name, force) {
    const labels = await host.labelsOf('container', name);
    if (labels && (labels[LABEL.role] !== 'ingress' || labels[LABEL.ingress] !== name))
        throw new Error(`The container named ${name} on the Docker host is not ingress '${name}'. Nothing was removed.`);
    const routed = (await host.listContainers([`${LABEL.ingress}=${name}`, `${LABEL.role}=route`])).map((r) => r.labels[LABEL.deployment] ?? r.name);
    if (routed.length > 0 && !force)
        throw new Error(`Ingress '${name}' still routes ${routed.length} deployment(s). Nothing was removed. Tear them down first (teardown, or prune), or give force: true to remove the ingress anyway: they serve nothing until a deploy makes it again.`);
    const networks = (await host.listNetworks([`${LABEL.ingress}=${name}`, `${LABEL.role}=network`])).map((n) => n.id);
    if (!labels && networks.length === 0) {
        log_log.info(`Nothing to remove: there is no ingress '${name}' on the Docker host.`);
        return;
    }
    // The network goes only once no routed instance is on it: with force, theirs may still be.
    const failures = await host.remove(labels ? [name] : [], routed.length === 0 ? networks : []);
    if (failures.length > 0)
        throw new Error(`Could not remove ingress '${name}': ${failures.join('; ')}. Run remove-ingress again.`);
    log_log.info(`Removed ingress '${name}'${routed.length > 0 ? `; ${routed.length} deployment(s) routed through it keep their routes and serve again once a deploy makes it again` : ''}`);
}

// EXTERNAL MODULE: ./src/github/undici-on-demand.ts
var undici_on_demand = __webpack_require__(9305);
;// CONCATENATED MODULE: ./src/github/api.ts

// Loaded only when a github-token is given: Octokit is 6 MB of a run's memory from its start, and
// undici, which it sends with, 8 MB more, which a run without one need not hold.
async function connectGitHub(token) {
    const [{ getOctokit }] = await Promise.all([__webpack_require__.e(/* import() */ 228).then(__webpack_require__.t.bind(__webpack_require__, 3228, 23)), (0,undici_on_demand.loadUndici)()]);
    return getOctokit(token);
}

;// CONCATENATED MODULE: ./src/summary.ts



// The job summary page of the run. Outside the Actions runner there is none to write.
async function summarizeDeploy(deployment, settings, result) {
    if (!process.env.GITHUB_STEP_SUMMARY)
        return;
    await core.summary
        .addHeading(`Deployment ${deployment}`, 2)
        .addRaw(`Serving <a href="${result.url}">${result.url}</a> from ${result.instances.length} instance(s) of <code>${summary_escape(settings.image)}</code>${result.changed ? '' : ' (unchanged)'}.`, true)
        .addList([...describeInstances(settings), ...describeRelease(settings, result)])
        .addTable([
        [
            { data: 'Instance', header: true },
            { data: 'State behind the load-balancer', header: true },
        ],
        ...result.instances.map((name) => [name, describeServer(result.statuses, SERVING_BACKEND, name)]),
    ])
        .addDetails('HAProxy configuration', `<pre>${summary_escape(result.config)}</pre>`)
        .write();
}
async function summarizeTeardown(deployment, removed) {
    if (!process.env.GITHUB_STEP_SUMMARY)
        return;
    const text = removed.length > 0 ? `Removed ${removed.map((n) => `<code>${n}</code>`).join(', ')}.` : 'Nothing was left to remove.';
    await core.summary.addHeading(`Deployment ${deployment} torn down`, 2).addRaw(text, true).write();
}
// The instances' settings, with the names of the variables only: env values may be sensitive
// too, and secret-env values are never shown.
function describeInstances({ instanceConfig: c, pull, certificate }) {
    const names = (vars) => (vars.length > 0 ? vars.map((v) => `<code>${v.key}</code>`).join(', ') : 'none');
    return [
        `Environment variables: ${names(c.env)}; secret: ${names(c.secretEnv)}`,
        `Command: ${c.command ? `<code>${summary_escape(JSON.stringify(c.command))}</code>` : "the image's"}`,
        `Memory: ${c.memoryBytes ? `${Math.round(c.memoryBytes / 1024 ** 2)} MiB` : "the host's default"}; CPUs: ${c.cpus ?? "the host's default"}`,
        `Images pulled: ${pull}`,
        `HTTPS: ${certificate ? 'yes, with lb-certificate' : 'no'}`,
    ];
}
// Not run: the generation already served when this run began (release/run.ts releaseNeeded).
function describeRelease({ releaseCommand }, { release }) {
    if (!releaseCommand)
        return [];
    return [
        `Release command <code>${summary_escape(JSON.stringify(releaseCommand))}</code>: ${release ? `ran in ${release.seconds} s` : 'not run, this generation already served'}`,
    ];
}
function summary_escape(text) {
    return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

;// CONCATENATED MODULE: ./src/main.ts





















// Inputs as the runner passes them: INPUT_<NAME> environment variables, absent when not given.
const readActionInput = (name) => process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`];
// Resolves with whether the run was cancelled.
async function run(read = readActionInput) {
    const cancellation = cancelOnSignals();
    const { signal } = cancellation;
    try {
        maskSecrets(read);
        const inputs = readInputs(read);
        useOwner(inputs.owner);
        const target = resolveTarget(inputs.dockerHost, inputs.tls, process.env);
        const engine = await log_log.group('Connect to the Docker host', async () => {
            const connected = await untilCancelled(connectEngine(target), signal);
            log_log.info(`Connected to ${connected.description}`);
            return connected;
        });
        const github = inputs.githubToken ? await connectGitHub(inputs.githubToken) : undefined;
        const host = dockerodeHost(engine.docker);
        if (inputs.command === 'deploy')
            await runDeploy(host, engine, inputs, github, signal);
        else if (inputs.command === 'teardown')
            await runTeardown(host, engine, inputs, github, signal);
        else if (inputs.command === 'prune')
            await runPrune(host, engine, inputs, github, signal);
        else
            await runRemoveIngress(host, engine, inputs, signal);
    }
    catch (error) {
        log_log.setFailed(failureOf(error, signal));
    }
    finally {
        cancellation.stop();
    }
    return { cancelled: signal.aborted };
}
// A cancelled run says so, whatever step noticed it first.
function failureOf(error, signal) {
    const reason = signal.aborted ? signal.reason : error;
    return reason instanceof Error ? reason.message : String(reason);
}
// The GitHub deployment is in progress from the start, so a deploy that fails before it takes the
// lock (a refused image, a host without room) shows as failed too.
async function runDeploy(host, engine, inputs, github, signal) {
    const record = await recordDeployment(github, currentEnvironment(inputs.environment, inputs.instancePrefix), currentCommit());
    try {
        await deployRecorded(host, engine, inputs, github, record, signal);
    }
    catch (error) {
        await record.failed(failureOf(error, signal));
        throw error;
    }
}
// The PR comment and the GitHub deployment's success are written while the lock is held, so two
// runs never write them out of order.
async function deployRecorded(host, engine, inputs, github, record, signal) {
    const settings = inputs.deploy;
    const deployment = inputs.instancePrefix;
    await log_log.group('Check the Docker host', () => checkHost(host, engine, settings));
    const pulled = await pullImages(host, engine.host, settings, signal);
    const lock = {
        operation: 'deploy',
        host: engine.host,
        image: pulled.haproxyImage.id,
        timeoutSeconds: inputs.waitTimeoutSeconds,
        signal,
        runFinished: runFinishedVia(github),
    };
    const result = await withDeploymentLock(host, deployment, lock, async (leased) => {
        const underIngressLock = (fn) => withIngressLock(leased, settings.ingress.name, { ...lock, operation: 'route' }, fn);
        const deployed = await deploy(leased, engine, settings, pulled, signal, underIngressLock);
        await announceDeployed(github, currentPullRequest(), deployedEnvironment(deployment, settings.image, deployed, new Date(), runUrlOf()));
        await record.ready(deployed.url);
        return deployed;
    });
    log_log.setOutput('ip', result.ip);
    log_log.setOutput('port', result.port);
    log_log.setOutput('url', result.url);
    log_log.setOutput('lb-container', result.lbContainer);
    // Non-strings reach the runner as JSON (@actions/core), and --output json keeps their type.
    log_log.setOutput('instances', result.instances);
    log_log.info(`${result.changed ? 'Deployed' : 'Unchanged'}: ${result.url} served by ${result.instances.length} instance(s)`);
    await summarizeDeploy(deployment, settings, result);
}
// Once it holds the lock, a teardown completes even when cancelled: removing is what it is for.
async function runTeardown(host, { host: profile }, inputs, github, signal) {
    const deployment = inputs.instancePrefix;
    // Before the lock, so that a refused teardown waits for nobody; teardown checks again under it.
    await checkOwner(host, deployment, inputs.owner, 'teardown');
    const lock = {
        operation: 'teardown',
        host: profile,
        image: await lockImage(host, inputs, signal),
        timeoutSeconds: inputs.waitTimeoutSeconds,
        signal,
        runFinished: runFinishedVia(github),
    };
    const { removed } = await withDeploymentLock(host, deployment, lock, async (leased) => {
        const result = await teardown(leased, deployment, inputs.owner, lock);
        await announceRemoved(github, currentPullRequest(), { deployment, at: new Date(), reason: 'teardown', runUrl: runUrlOf() });
        await recordRemoved(github, currentEnvironment(inputs.environment, deployment), 'teardown');
        return result;
    });
    await summarizeTeardown(deployment, removed);
}
async function runPrune(host, { host: profile }, inputs, github, signal) {
    const pattern = inputs.instancePrefix;
    const lock = {
        host: profile,
        image: await lockImage(host, inputs, signal),
        timeoutSeconds: inputs.waitTimeoutSeconds,
        signal,
        runFinished: runFinishedVia(github),
    };
    const report = await prune(host, inputs.prune, { lock, github, environment: inputs.environment });
    for (const line of describePrune(report, pattern))
        log_log.info(line);
    await summarizePrune(report, pattern);
    if (report.failed.length > 0)
        throw new Error(`Prune could not remove ${report.failed.map((f) => `'${f.deployment}'`).join(', ')} (why is above). Run prune again; if it keeps failing, run teardown for each.`);
}
function runFinishedVia(github) {
    return github ? workflowRunFinished(github) : undefined;
}
// The lock container is never started: any image on the Docker host will do, the HAProxy image
// when it is there. Only a host without any image needs it pulled first.
// Under the ingress's lock, so that no deploy routes through it meanwhile.
async function runRemoveIngress(host, { host: profile }, inputs, signal) {
    const { name, force } = inputs.removeIngress;
    const lock = { operation: 'route', host: profile, image: await lockImage(host, inputs, signal), timeoutSeconds: inputs.waitTimeoutSeconds, signal };
    await withIngressLock(host, name, lock, (leased) => removeIngress(leased, name, force));
}
async function lockImage(host, inputs, signal) {
    const onHost = await imageOnHost(host, inputs.haproxyImage);
    if (onHost)
        return onHost;
    return (await obtainImage(host, inputs.haproxyImage, { policy: inputs.pull, signal }, log_log.info)).id;
}
// Registered before anything else is printed. PEM material is also masked line by line, since
// a log line never holds a whole multi-line value.
function maskSecrets(read) {
    for (const spec of INPUT_SPECS.filter((s) => s.secret)) {
        const value = read(spec.name)?.trim();
        if (!value)
            continue;
        log_log.setSecret(value);
        for (const line of value.split(/\r?\n/))
            if (line.trim().length >= 8)
                log_log.setSecret(line.trim());
    }
    // Each secret-env value on its own as well: a program may print it without its key.
    for (const line of (read('secret-env') ?? '').split(/\r?\n/)) {
        maskValue(line.slice(line.indexOf('=') + 1));
    }
    for (const value of serviceSecretValues(read('services') ?? ''))
        maskValue(value);
    // Each basic-auth password alone, its line, and the base64 an Authorization header carries.
    for (const line of (read('basic-auth') ?? '').split(/\r?\n/)) {
        const colon = line.indexOf(':');
        if (colon < 0 || line.trim() === '')
            continue;
        const credentials = { user: line.slice(0, colon), password: line.slice(colon + 1) };
        for (const value of [credentials.password, line, basicAuthorization(credentials).slice('Basic '.length)])
            if (value)
                log_log.setSecret(value);
    }
    const username = read('registry-username')?.trim();
    const password = read('registry-password');
    if (username && password)
        log_log.setSecret(registryAuthHeader(username, password));
    // The Docker host address is as secret taken from the environment as given as docker-host.
    const fromEnvironment = process.env.DOCKER_HOST?.trim();
    if (fromEnvironment)
        log_log.setSecret(fromEnvironment);
}
// A secret variable's value as given and trimmed: a program may print either.
function maskValue(value) {
    for (const form of new Set([value, value.trim()]))
        if (form.trim())
            log_log.setSecret(form);
}

;// CONCATENATED MODULE: ./src/cli.ts






// `vic-lb deploy --image httpd --instances 3`: the action's own code, with flags for inputs. Run by
// a person it prints for a person (terminal-log.ts); in a workflow step, as the action does.
const flags = INPUT_SPECS.filter((spec) => spec.name !== 'command');
// Inputs that are whole files (PEM, env files) also take `--<input>-file PATH`, so that no one has
// to paste them into a flag. A name here gets its flag once INPUT_SPECS has the input.
const FILE_INPUTS = ['tls-ca-cert', 'tls-cert', 'tls-key', 'lb-certificate', 'basic-auth', 'env', 'secret-env', 'services'];
const fileFlags = flags.filter((spec) => FILE_INPUTS.includes(spec.name));
const OUTPUT_FORMATS = ['text', 'json'];
class UsageError extends Error {
}
function usage() {
    const lines = [
        ...flags.map((f) => [`--${f.name}`, `${f.description}${f.default ? ` (default: ${f.default})` : ''}`]),
        ...fileFlags.map((f) => [`--${f.name}-file`, `Path of a file whose contents are ${f.name}.`]),
        ['--output', `How the run reports: 'text' (default) for a person; 'json' prints the outputs as one JSON object on stdout, the log on stderr.`],
    ];
    const width = Math.max(...lines.map(([flag]) => flag.length)) + 2;
    return [
        `Usage: vic-lb <${COMMANDS.join('|')}> [--flag value ...]`,
        '',
        'Deploys N instances of an image behind an HAProxy load-balancer on a Docker or VCH host,',
        'or removes such a deployment. Flags mirror the GitHub Action inputs:',
        '',
        ...lines.map(([flag, text]) => `  ${flag.padEnd(width)}${text}`),
        '',
        'Example: vic-lb deploy --image httpd:2.4 --instances 3 --external-network "" --lb-port 8080',
        'PEM in a flag needs the --flag=value form (--tls-cert="$(cat cert.pem)"); --tls-cert-file cert.pem',
        'reads the file. DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH are read as the docker CLI does.',
        'Exit code: 0 done, 1 failed, 2 wrong usage. NO_COLOR turns colour off.',
    ].join('\n');
}
// What the command line asks for; a UsageError says what is wrong with it. File flags are read
// here, so an unreadable file is refused before anything is connected to. Their contents are
// never quoted: the secret ones are masked by the run like any secret input.
function parseCommandLine(args, readFile = (path) => external_node_fs_.readFileSync(path, 'utf8')) {
    let parsed;
    try {
        parsed = (0,external_node_util_.parseArgs)({
            args,
            allowPositionals: true,
            options: {
                help: { type: 'boolean', short: 'h' },
                output: { type: 'string' },
                ...Object.fromEntries([...flags.map((f) => f.name), ...fileFlags.map((f) => `${f.name}-file`)].map((name) => [name, { type: 'string' }])),
            },
        });
    }
    catch (error) {
        throw new UsageError(error.message);
    }
    const values = parsed.values;
    if (values.help)
        return { help: true };
    if (parsed.positionals.length !== 1)
        throw new UsageError(`Expected one command (${COMMANDS.join(', ')}), got ${parsed.positionals.length}.`);
    const [command] = parsed.positionals;
    if (!COMMANDS.includes(command))
        throw new UsageError(`Unknown command '${command}'. Expected one of: ${COMMANDS.join(', ')}.`);
    const output = values.output ?? 'text';
    if (!OUTPUT_FORMATS.includes(output))
        throw new UsageError(`Invalid --output '${output}'. Expected one of: ${OUTPUT_FORMATS.join(', ')}.`);
    const inputs = Object.fromEntries(flags.map((f) => [f.name, values[f.name]]));
    for (const { name } of fileFlags) {
        const path = values[`${name}-file`];
        if (path === undefined)
            continue;
        if (inputs[name] !== undefined)
            throw new UsageError(`Give --${name} or --${name}-file, not both.`);
        try {
            inputs[name] = readFile(path);
        }
        catch (error) {
            throw new UsageError(`Could not read --${name}-file: ${error.message}`);
        }
    }
    return { help: false, command: command, read: (name) => (name === 'command' ? command : inputs[name]), output: output };
}
async function cli(args, io = { env: process.env, stdout: process.stdout, stderr: process.stderr }) {
    let invocation;
    try {
        invocation = parseCommandLine(args);
    }
    catch (error) {
        if (!(error instanceof UsageError))
            throw error;
        io.stderr.write(`vic-lb: ${error.message}\nRun 'vic-lb --help' for every command and flag.\n`);
        process.exitCode = 2;
        return;
    }
    if (invocation.help) {
        io.stdout.write(`${usage()}\n`);
        return;
    }
    const inActions = io.env.GITHUB_ACTIONS === 'true';
    // Without an outputs file (GITHUB_ACTIONS set by hand) @actions/core would print ::set-output.
    if (inActions)
        io.env.GITHUB_OUTPUT ??= '/dev/null';
    // A command line has no post step to keep state for; @actions/core reads process.env for where
    // to keep it, and would otherwise print ::save-state:: lines.
    process.env.GITHUB_STATE ??= '/dev/null';
    const json = invocation.output === 'json';
    // With --output json a person's log goes to stderr, so that stdout holds the JSON alone. In a
    // workflow step the runner reads the workflow commands on stdout; the JSON comes last there.
    const chosen = inActions ? actionsLog : terminalLog({ out: json ? io.stderr : io.stdout, err: io.stderr, env: io.env });
    const outputs = {};
    let failed = false;
    useLog({
        ...chosen,
        setOutput: (name, value) => {
            outputs[name] = value;
            chosen.setOutput(name, value);
        },
        setFailed: (message) => {
            failed = true;
            chosen.setFailed(message);
        },
    });
    const { cancelled } = await run(invocation.read);
    if (json && !failed)
        io.stdout.write(`${JSON.stringify(outputs)}\n`);
    // Ctrl-C: done once what the run changed is taken back.
    if (cancelled)
        process.exit();
}

;// CONCATENATED MODULE: ./src/post.ts















// The post step: the backstop for a main step that was killed (SIGKILL, 10 s after a cancel)
// before it could take back what it changed. The main step leaves in its state only what is still
// unsettled (state-helper.ts); after a main step that finished, cancelled or not, there is nothing.
// Like every clean-up it only warns: the next run of the deployment settles the rest.
async function post(read = readActionInput) {
    const deploy = leftDeploy();
    const locks = leftLocks();
    const githubDeployment = leftGitHubDeployment();
    if (!deploy && locks.length === 0 && !githubDeployment) {
        log_log.info('Nothing to clean up: the main step settled everything it started.');
        return;
    }
    try {
        maskSecrets(read);
        const inputs = readInputs(read);
        // First, since it needs no Docker host: that may be what the main step could not reach.
        if (githubDeployment)
            await recordInterrupted(inputs.githubToken ? await connectGitHub(inputs.githubToken) : undefined, githubDeployment);
        if (!deploy && locks.length === 0)
            return;
        const engine = await connectEngine(resolveTarget(inputs.dockerHost, inputs.tls, process.env));
        const host = dockerodeHost(engine.docker);
        // A shared ingress's lock first: the take-back may need it, and only the killed step held it.
        const release = async (lock) => {
            const released = await releaseLock(host, lock, lock.id, log_log);
            if (released === 'released')
                log_log.info(`Released the lock of ${describeLocked(lock)} the main step held`);
            // The step may have released it in the instant before it was killed, before it could note
            // that; or another run took it over since (its holder's process is gone): either way not ours.
            if (released === 'gone')
                log_log.info(`The lock of ${describeLocked(lock)} the main step held is gone already: nothing to release`);
        };
        for (const lock of locks.filter((l) => l.kind === 'ingress'))
            await release(lock);
        if (deploy) {
            const image = (await imageOnHost(host, inputs.haproxyImage)) ?? inputs.haproxyImage;
            await takeBack(host, deploy, { host: engine.host, image, timeoutSeconds: inputs.waitTimeoutSeconds });
        }
        for (const lock of locks.filter((l) => l.kind !== 'ingress'))
            await release(lock);
    }
    catch (error) {
        log_log.warning(`The post step could not finish what the interrupted main step left: ${describe(error)}. The next run of the deployment settles it (it takes over a lock whose process is gone), or run teardown.`);
    }
}
// In the order that keeps the previous deployment serving: its configuration (or its route on a
// shared ingress, under that ingress's lock: `lock`) back first, then this run's containers and
// volumes out of the way, then the services and load-balancer it had stopped started again.
async function takeBack(host, deploy, lock) {
    log_log.info(`The main step was interrupted while it deployed '${deploy.deployment}': taking back what it changed`);
    if (deploy.configChangedOn)
        await restoreConfig(host, deploy.configChangedOn);
    if (deploy.routeChangedOn)
        await restoreRouteOf(host, deploy.deployment, deploy.routeChangedOn, lock);
    const labels = [`${LABEL.deployment}=${deploy.deployment}`, `${LABEL.run}=${deploy.run}`];
    const [containers, networks, volumes] = await Promise.all([host.listContainers(labels), host.listNetworks(labels), host.listVolumes(labels)]);
    // The lock is released by its ID, after everything else.
    const created = containers.filter((c) => c.labels[LABEL.role] !== 'lock');
    const failures = await host.remove(created.map((c) => c.id), networks.map((n) => n.id), volumes.map((v) => v.name));
    if (failures.length > 0)
        throw new Error(`could not remove ${failures.join('; ')}`);
    const names = [...created.map((c) => c.name), ...volumes.map((v) => `volume ${v.name}`)];
    log_log.info(`Removed ${created.length + networks.length + volumes.length} object(s) the main step created${names.length ? `: ${names.join(', ')}` : ''}`);
    for (const { id, name } of deploy.replacedServices ?? [])
        await restartReplaced(host, id, name, 'service');
    if (deploy.replacedLb)
        await restartReplaced(host, deploy.replacedLb.id, deploy.replacedLb.name);
}
async function restoreRouteOf(host, deployment, { ingress, previous }, lock) {
    await setRouteUnderLock(host, ingress, deployment, previous, lock);
    log_log.info(`Put back the route ${previous ? `of ${previous.hostname} the deployment had before` : 'of the deployment: it had none before'} on ingress '${ingress}'`);
}
async function restoreConfig(host, lb) {
    if (await restorePreviousConfig(host, lb))
        log_log.info('Restored the configuration the load-balancer had before the interrupted deploy');
}

;// CONCATENATED MODULE: ./src/start.ts




// One bundle for all three: the Actions runner starts it with no arguments, as the main step
// (dist/index.js) and as the post step (dist/post.js, which loads index.js); the vic-lb
// command (package.json "bin") always passes a command or --help. A cancelled run exits as soon as
// it has taken back what it changed, whatever it was still waiting for.
void (process.argv.length > 2
    ? cli(process.argv.slice(2))
    : external_node_path_.basename(process.argv[1] ?? '') === 'post.js'
        ? post()
        : run().then(({ cancelled }) => cancelled && process.exit()));


/***/ })

};
;