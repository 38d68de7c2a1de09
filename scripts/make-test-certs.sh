#!/usr/bin/env bash
# The test certificates for the e2e suite's TLS endpoint (test-support/docker-tls-proxy.ts), made
# once into ${VIC_LB_TLS_DIR:-/tmp/vic-lb-tls} and kept while they are valid:
#   ca.pem ca-key.pem                 test CA
#   server-cert.pem server-key.pem    the endpoint's certificate (SAN IP:127.0.0.1, DNS:localhost)
#   cert.pem key.pem                  client certificate signed by the CA
#                                     (ca.pem+cert.pem+key.pem = DOCKER_CERT_PATH layout)
#   other-ca/ca.pem other-ca/ca-key.pem
#                                     a second, unrelated CA (negative tests)
#   other-ca/cert.pem other-ca/key.pem
#                                     client certificate signed by that other CA
#   expired/cert.pem expired/key.pem  client certificate signed by the real CA, expired
#                                     (valid 2020-01-01..2020-01-02)
#   expired/ca.pem                    copy of the real ca.pem (so the directory can be used as
#                                     DOCKER_CERT_PATH as it is)
# Private keys are mode 0600.
set -euo pipefail

TLS_DIR=${VIC_LB_TLS_DIR:-/tmp/vic-lb-tls}
LOCK=/tmp/vic-lb-make-test-certs.lock

log() { echo "[make-test-certs] $*"; }
die() { echo "[make-test-certs] ERROR: $*" >&2; exit 1; }

command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"

# One instance at a time (set-ups may run concurrently).
exec 9>"$LOCK"
flock -w 300 9 || die "could not take $LOCK"

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
  log "test certificates in $TLS_DIR are valid"
else
  gen_certs
  certs_ok || die "generated certificates do not verify"
fi
