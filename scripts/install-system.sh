#!/usr/bin/env bash
# System packages the tests use that pip cannot bring: Debian's Chromium for
# the browser tests. Installs only what is missing, so a warm machine skips it.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v pg_dump >/dev/null 2>&1 || missing+=(postgresql-client)

if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "missing system packages: ${missing[*]} (run as root or install them)" >&2
        exit 1
    fi
    echo "installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
