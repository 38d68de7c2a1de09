#!/usr/bin/env bash
# Make sure a Docker daemon is running with
#   (a) the normal unix socket  unix:///var/run/docker.sock, and
#   (b) a TLS listener on tcp://127.0.0.1:2376 that requires a client
#       certificate signed by our test CA (--tlsverify).
#
# Idempotent: if such a daemon is already up, nothing is restarted. A dockerd
# that runs WITHOUT the TLS listener (or with other certificates) is stopped
# cleanly (SIGTERM, wait) and started again with both listeners.
#
# Test certificates are generated once into ${VIC_LB_TLS_DIR:-/tmp/vic-lb-tls}:
#   ca.pem ca-key.pem                 test CA
#   server-cert.pem server-key.pem    dockerd's cert (SAN IP:127.0.0.1, DNS:localhost)
#   cert.pem key.pem                  client cert signed by the CA
#                                     (ca.pem+cert.pem+key.pem = DOCKER_CERT_PATH layout)
#   other-ca/ca.pem other-ca/ca-key.pem
#                                     a second, unrelated CA (negative tests)
#   other-ca/cert.pem other-ca/key.pem
#                                     client cert signed by that other CA
#   expired/cert.pem expired/key.pem  client cert signed by the real CA, expired
#                                     (valid 2020-01-01..2020-01-02)
#   expired/ca.pem                    copy of the real ca.pem (so the dir can be
#                                     used as DOCKER_CERT_PATH as is)
# Private keys are mode 0600.
#
# The daemon logs to /var/log/vic-lb-dockerd.log. Extra dockerd flags can be
# given in VIC_LB_DOCKERD_ARGS (word-split). Waits at most
# VIC_LB_DOCKERD_WAIT seconds (default 60) for the daemon to answer.
# `--certs-only` only makes sure the certificates exist; `--restart` restarts
# a running dockerd even if it is fine. A running dockerd is also restarted
# when its open-files limit is lower than the one this script can give it.
set -euo pipefail

TLS_DIR=${VIC_LB_TLS_DIR:-/tmp/vic-lb-tls}
TLS_HOST=127.0.0.1
TLS_PORT=2376
SOCK=/var/run/docker.sock
LOG=/var/log/vic-lb-dockerd.log
WAIT=${VIC_LB_DOCKERD_WAIT:-60}
LOCK=/tmp/vic-lb-start-docker.lock
EXTRA_ARGS=${VIC_LB_DOCKERD_ARGS:-}

# Talk to exactly the endpoints named here, whatever the caller's env says.
unset DOCKER_HOST DOCKER_TLS_VERIFY DOCKER_CERT_PATH DOCKER_CONTEXT

log() { echo "[start-docker] $*"; }
die() { echo "[start-docker] ERROR: $*" >&2; exit 1; }

CERTS_ONLY=0
RESTART=0
for arg in "$@"; do
  case "$arg" in
    --certs-only) CERTS_ONLY=1 ;;
    --restart) RESTART=1 ;;
    *) die "unknown argument: $arg (usage: start-docker.sh [--certs-only|--restart])" ;;
  esac
done

[[ $(id -u) -eq 0 ]] || die "must run as root"
command -v openssl >/dev/null || die "openssl not found"
if ((CERTS_ONLY == 0)); then
  command -v dockerd >/dev/null || die "dockerd not found (apt-get install docker.io)"
  command -v docker >/dev/null || die "docker CLI not found (apt-get install docker.io)"
fi

# One instance at a time (tests may call this concurrently).
exec 9>"$LOCK"
flock -w 300 9 || die "could not take $LOCK"

# --------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------
KEYS=(ca-key.pem server-key.pem key.pem other-ca/ca-key.pem other-ca/key.pem expired/key.pem)
CERTS=(ca.pem server-cert.pem cert.pem other-ca/ca.pem other-ca/cert.pem expired/cert.pem expired/ca.pem)

certs_ok() {
  local f
  for f in "${KEYS[@]}" "${CERTS[@]}"; do [[ -s $TLS_DIR/$f ]] || return 1; done
  # Still valid for a day, and the chain is the one we expect.
  for f in ca.pem server-cert.pem cert.pem other-ca/ca.pem other-ca/cert.pem; do
    openssl x509 -noout -checkend 86400 -in "$TLS_DIR/$f" >/dev/null 2>&1 || return 1
  done
  openssl verify -CAfile "$TLS_DIR/ca.pem" "$TLS_DIR/server-cert.pem" "$TLS_DIR/cert.pem" >/dev/null 2>&1 || return 1
  openssl verify -CAfile "$TLS_DIR/other-ca/ca.pem" "$TLS_DIR/other-ca/cert.pem" >/dev/null 2>&1 || return 1
  cmp -s "$TLS_DIR/ca.pem" "$TLS_DIR/expired/ca.pem" || return 1
}

gen_certs() {
  local tmp errlog
  tmp=$(mktemp -d "${TLS_DIR%/}.new.XXXXXX")
  errlog=$(mktemp /tmp/vic-lb-openssl.XXXXXX)
  (
    set -euo pipefail
    umask 077
    cd "$tmp"
    mkdir -p other-ca expired ca-db/newcerts

    cat >ext.cnf <<'EOF'
[ server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ client ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

    mkca() { # dir cn
      openssl req -x509 -new -noenc -newkey rsa:2048 -sha256 -days 3650 \
        -keyout "$1/ca-key.pem" -out "$1/ca.pem" -subj "/CN=$2" \
        -addext 'basicConstraints=critical,CA:TRUE' \
        -addext 'keyUsage=critical,keyCertSign,cRLSign'
    }
    mkcsr() { # keyfile csrfile cn
      openssl req -new -noenc -newkey rsa:2048 -keyout "$1" -out "$2" -subj "/CN=$3"
    }
    sign() { # cadir csr out ext
      openssl x509 -req -in "$2" -CA "$1/ca.pem" -CAkey "$1/ca-key.pem" \
        -set_serial "0x$(openssl rand -hex 16)" -sha256 -days 3650 \
        -extfile ext.cnf -extensions "$4" -out "$3"
    }

    mkca . vic-lb-test-ca
    mkcsr server-key.pem server.csr localhost
    sign . server.csr server-cert.pem server
    mkcsr key.pem client.csr vic-lb-test-client
    sign . client.csr cert.pem client

    mkca other-ca vic-lb-test-other-ca
    mkcsr other-ca/key.pem other-ca/client.csr vic-lb-test-other-client
    sign other-ca other-ca/client.csr other-ca/cert.pem client

    # Expired client cert signed by the real CA. OpenSSL 3.0's `x509` cannot
    # set explicit dates (-not_before/-not_after came in 3.4); `openssl ca` can.
    mkcsr expired/key.pem expired/client.csr vic-lb-test-expired-client
    : >ca-db/index.txt
    openssl rand -hex 16 >ca-db/serial
    cat >ca-db/ca.cnf <<EOF
[ ca ]
default_ca = test_ca
[ test_ca ]
database = $tmp/ca-db/index.txt
new_certs_dir = $tmp/ca-db/newcerts
serial = $tmp/ca-db/serial
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
copy_extensions = none
[ policy_any ]
commonName = supplied
[ client ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
    openssl ca -batch -notext -config ca-db/ca.cnf -cert ca.pem -keyfile ca-key.pem \
      -in expired/client.csr -out expired/cert.pem -extensions client \
      -startdate 20200101000000Z -enddate 20200102000000Z
    cp ca.pem expired/ca.pem
    rm -rf ca-db ext.cnf ./*.csr other-ca/*.csr expired/*.csr
  ) 2>"$errlog" || {
    cat "$errlog" >&2
    rm -rf "$tmp" "$errlog"
    die "certificate generation failed"
  }
  rm -f "$errlog"

  mkdir -p "$TLS_DIR/other-ca" "$TLS_DIR/expired"
  chmod 0755 "$TLS_DIR" "$TLS_DIR/other-ca" "$TLS_DIR/expired"
  local f
  for f in "${KEYS[@]}"; do install -m 0600 "$tmp/$f" "$TLS_DIR/$f"; done
  for f in "${CERTS[@]}"; do install -m 0644 "$tmp/$f" "$TLS_DIR/$f"; done
  rm -rf "$tmp"
  log "generated test certificates in $TLS_DIR"
}

if certs_ok; then
  for f in "${KEYS[@]}"; do chmod 0600 "$TLS_DIR/$f"; done
else
  gen_certs
  certs_ok || die "generated certificates do not verify"
fi
((CERTS_ONLY == 0)) || exit 0

# --------------------------------------------------------------------------
# Daemon
# --------------------------------------------------------------------------
tls_flags=(--tlsverify --tlscacert "$TLS_DIR/ca.pem" --tlscert "$TLS_DIR/cert.pem" --tlskey "$TLS_DIR/key.pem")
sock_ok() { timeout 10 docker -H "unix://$SOCK" info >/dev/null 2>&1; }
tls_ok() { timeout 10 docker "${tls_flags[@]}" -H "tcp://$TLS_HOST:$TLS_PORT" version >/dev/null 2>&1; }

# alive PID COMM: PID runs COMM and is not a zombie (in some sandboxes PID 1
# does not reap, so a killed dockerd can linger as a zombie).
alive() {
  local stat
  [[ $(cat "/proc/$1/comm" 2>/dev/null) == "$2" ]] || return 1
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

dockerd_pid() {
  local pid
  pid=$(cat /var/run/docker.pid 2>/dev/null || true)
  if [[ -n $pid ]] && alive "$pid" dockerd; then
    echo "$pid"
    return
  fi
  for pid in $(pgrep -x dockerd || true); do
    if alive "$pid" dockerd; then
      echo "$pid"
      return
    fi
  done
}

# Open-files limit. Containers inherit dockerd's RLIMIT_NOFILE (a container's
# --ulimit cannot exceed it), and e.g. haproxy needs ~2*maxconn fds. A systemd
# docker.service gives 1048576; from a plain shell it may be much lower. Raise
# ours as far as allowed (raising the hard limit needs CAP_SYS_RESOURCE).
NR_OPEN=$(cat /proc/sys/fs/nr_open 2>/dev/null || echo 1048576)
ulimit -Hn "$NR_OPEN" 2>/dev/null || true
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
OUR_NOFILE=$(ulimit -Hn)
[[ $OUR_NOFILE != unlimited ]] || OUR_NOFILE=$NR_OPEN
daemon_nofile() { awk '/^Max open files/ { print ($5 == "unlimited" ? 1e9 : $5) }' "/proc/$1/limits" 2>/dev/null || echo 0; }

stop_dockerd() { # pid reason
  local pid=$1 deadline
  log "stopping dockerd (pid $pid): $2"
  kill -TERM "$pid" 2>/dev/null || return 0
  deadline=$((SECONDS + 60))
  while alive "$pid" dockerd && ((SECONDS < deadline)); do sleep 0.2; done
  if alive "$pid" dockerd; then
    log "dockerd (pid $pid) did not exit within 60s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 1
  fi
}

# A dockerd/containerd killed hard (e.g. when a session's processes are ended)
# leaves pid files behind; if such a pid now belongs to another process,
# dockerd refuses to start (or signals the wrong process). Drop those.
drop_stale_pidfile() { # file expected-comm
  local p
  [[ -f $1 ]] || return 0
  p=$(cat "$1" 2>/dev/null || true)
  if [[ -z $p ]] || ! alive "$p" "$2"; then rm -f "$1"; fi
}

start_dockerd() { # extra flags...
  local args=(
    -H "unix://$SOCK"
    -H "tcp://$TLS_HOST:$TLS_PORT"
    --tlsverify
    --tlscacert "$TLS_DIR/ca.pem"
    --tlscert "$TLS_DIR/server-cert.pem"
    --tlskey "$TLS_DIR/server-key.pem"
  )
  # shellcheck disable=SC2206
  [[ -z $EXTRA_ARGS ]] || args+=($EXTRA_ARGS)
  args+=("$@")
  drop_stale_pidfile /var/run/docker.pid dockerd
  drop_stale_pidfile /var/run/docker/containerd/containerd.pid containerd
  mkdir -p "$(dirname "$LOG")"
  echo "=== $(date -u +%FT%TZ) start-docker.sh (open files $OUR_NOFILE): dockerd ${args[*]}" >>"$LOG"
  LOG_OFFSET=$(stat -c %s "$LOG")
  # New session, detached from our terminal/job; fd 9 (our lock) must not be
  # inherited by the long-running daemon.
  setsid nohup dockerd "${args[@]}" >>"$LOG" 2>&1 </dev/null 9>&- &
  log "started dockerd, log: $LOG"
}

# wait_ready: 0 when both endpoints answer, 1 when dockerd died, 2 on timeout.
wait_ready() {
  local deadline=$((SECONDS + WAIT)) gone=0
  while ((SECONDS < deadline)); do
    if sock_ok && tls_ok; then return 0; fi
    if [[ -z $(dockerd_pid) ]]; then
      # Tolerate a moment between fork and the pid showing up.
      gone=$((gone + 1))
      ((gone < 4)) || return 1
    else
      gone=0
    fi
    sleep 0.5
  done
  return 2
}

pid=$(dockerd_pid)
if [[ -n $pid ]]; then
  # A daemon may be starting up right now: give its socket a moment.
  deadline=$((SECONDS + 20))
  until sock_ok || ((SECONDS >= deadline)) || ! alive "$pid" dockerd; do sleep 0.5; done
  have_nofile=$(daemon_nofile "$pid")
  if ((RESTART)); then
    stop_dockerd "$pid" "--restart given"
  elif ! sock_ok; then
    stop_dockerd "$pid" "it does not answer on $SOCK"
  elif ! tls_ok; then
    stop_dockerd "$pid" "no TLS listener on tcp://$TLS_HOST:$TLS_PORT with the certificates in $TLS_DIR"
  elif ((have_nofile < OUR_NOFILE)); then
    stop_dockerd "$pid" "its open-files limit ($have_nofile) is lower than the $OUR_NOFILE it can have"
  else
    log "dockerd (pid $pid) already serves $SOCK and TLS tcp://$TLS_HOST:$TLS_PORT"
    ALREADY=1
  fi
fi

if [[ -z ${ALREADY:-} ]]; then
  start_dockerd
  set +e
  wait_ready
  rc=$?
  set -e
  if [[ $rc -eq 1 ]]; then
    # dockerd died. Retry once with sandbox-friendly flags if the log says why.
    failure=$(tail -c +"$((LOG_OFFSET + 1))" "$LOG")
    retry=()
    if grep -qi 'iptables' <<<"$failure"; then retry+=(--iptables=false --ip-masq=false); fi
    if grep -qiE 'overlay|graphdriver|storage.driver' <<<"$failure"; then retry+=(--storage-driver=vfs); fi
    if ((${#retry[@]})); then
      log "dockerd exited during start-up; retrying with ${retry[*]}"
      start_dockerd "${retry[@]}"
      set +e
      wait_ready
      rc=$?
      set -e
    fi
  fi
  if [[ $rc -ne 0 ]]; then
    echo "----- last lines of $LOG:" >&2
    tail -n 40 "$LOG" >&2 || true
    [[ $rc -eq 1 ]] && die "dockerd exited during start-up"
    die "dockerd did not answer on $SOCK and tcp://$TLS_HOST:$TLS_PORT within ${WAIT}s"
  fi
  pid=$(dockerd_pid)
  log "dockerd (pid $pid) is up: $SOCK and TLS tcp://$TLS_HOST:$TLS_PORT"
fi

have_nofile=$(daemon_nofile "$pid")
if ((have_nofile < 65536)); then
  log "WARNING: dockerd's open-files limit is $have_nofile (no CAP_SYS_RESOURCE to raise it);" \
    "containers inherit it, so e.g. haproxy 'maxconn' above ~$(((have_nofile - 100) / 2)) cannot start here"
fi

# --------------------------------------------------------------------------
# Self-check: the TLS endpoint accepts our client cert and nothing else.
# --------------------------------------------------------------------------
if command -v curl >/dev/null; then
  url="https://$TLS_HOST:$TLS_PORT/_ping"
  curl -fsS --max-time 5 --cacert "$TLS_DIR/ca.pem" --cert "$TLS_DIR/cert.pem" --key "$TLS_DIR/key.pem" "$url" >/dev/null ||
    die "TLS endpoint refused the test client certificate"
  if curl -fsS --max-time 5 --cacert "$TLS_DIR/ca.pem" "$url" >/dev/null 2>&1; then
    die "TLS endpoint answered WITHOUT a client certificate (is --tlsverify missing?)"
  fi
  if curl -fsS --max-time 5 --cacert "$TLS_DIR/ca.pem" --cert "$TLS_DIR/other-ca/cert.pem" --key "$TLS_DIR/other-ca/key.pem" "$url" >/dev/null 2>&1; then
    die "TLS endpoint accepted a client certificate from another CA"
  fi
  if curl -fsS --max-time 5 --cacert "$TLS_DIR/ca.pem" --cert "$TLS_DIR/expired/cert.pem" --key "$TLS_DIR/expired/key.pem" "$url" >/dev/null 2>&1; then
    die "TLS endpoint accepted an expired client certificate"
  fi
  log "TLS check ok: client cert accepted; none/other-CA/expired refused"
fi

cat <<EOF
[start-docker] to use the TLS endpoint:
  export DOCKER_HOST=tcp://$TLS_HOST:$TLS_PORT DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$TLS_DIR
EOF
