#!/bin/sh
# Regenerates the test-only TLS files in this directory (run it here).
# The CA's key is thrown away: nothing else can ever be signed by this CA.
set -eu
days=36525 # 100 years
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/ca.key" -out ca.pem -days $days \
    -subj "/CN=settee test CA (test-only)" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
openssl req -newkey rsa:2048 -nodes -keyout server.key -out "$tmp/server.csr" -subj "/CN=127.0.0.1"
printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" > "$tmp/ext"
openssl x509 -req -in "$tmp/server.csr" -CA ca.pem -CAkey "$tmp/ca.key" -CAcreateserial \
    -CAserial "$tmp/ca.srl" -out server.pem -days $days -extfile "$tmp/ext"
# A key that does not belong to server.pem (the server must refuse the pair).
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other.key
