#!/usr/bin/env bash
# Installs the Docker Compose v2 CLI plugin (`docker compose`), which the
# test suite uses to validate docker-compose.yml (`docker compose config`
# needs no engine). Debian bookworm only packages Compose v1, which does not
# read the current Compose Specification, so we build the official source
# (a Go module, fetched through the Go module proxy) with the local Go
# toolchain. Cached: does nothing when the plugin already reports $VERSION.
set -euo pipefail

VERSION=${COMPOSE_VERSION:-v5.6.0}   # its go.mod asks for go >= 1.26.8
MODULE=github.com/docker/compose/v5
PLUGIN_DIR=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
TARGET=$PLUGIN_DIR/docker-compose

if [[ -x $TARGET ]] && "$TARGET" version --short 2>/dev/null | grep -qx "${VERSION#v}"; then
    exit 0
fi
if ! command -v go >/dev/null 2>&1; then
    echo "install-compose: no Go toolchain; the compose test will be skipped" >&2
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# `go install module@version` refuses modules whose go.mod has exclude
# directives (compose's has); building inside a copy of the module works.
src=$(go mod download -json "$MODULE@$VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
cp -r "$src" "$work/compose"
chmod -R u+w "$work/compose"
mkdir -p "$PLUGIN_DIR"
echo "install-compose: building docker compose $VERSION (a few minutes, once)" >&2
(cd "$work/compose" && GOFLAGS=-mod=mod go build -trimpath \
    -ldflags "-s -w -X $MODULE/internal.Version=$VERSION" -o "$TARGET" ./cmd)
"$TARGET" version
