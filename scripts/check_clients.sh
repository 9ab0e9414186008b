#!/usr/bin/env bash
# The generated Go and Python clients are checked, not trusted.
#
#   scripts/check_clients.sh            install what is missing, regenerate into a temp dir and
#                                       fail on any diff, buf lint, then the Python and Go tests
#                                       (each starts the real server, target/debug/imgforge)
#   scripts/check_clients.sh generate   regenerate clients/python and clients/go in place
#
# Generators are pinned: Python by PyPI version (below), Go by Debian bookworm's protoc,
# protoc-gen-go and protoc-gen-go-grpc (their versions are written into the generated files,
# so another version shows up as a diff). Tools live in $CLIENT_TOOLS (default .tools/clients,
# gitignored); installs are skipped when already there.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

GRPCIO_TOOLS_VERSION=1.85.1
MYPY_PROTOBUF_VERSION=5.1.0
BUF_VERSION=1.75.0
GO_MODULE=github.com/imgforge/imgforge/clients/go
APT_PACKAGES=(golang-go golang-google-grpc-dev golang-google-protobuf-dev
    golang-github-golang-protobuf-1-5-dev protobuf-compiler protoc-gen-go protoc-gen-go-grpc)

TOOLS="${CLIENT_TOOLS:-$ROOT/.tools/clients}"
VENV="$TOOLS/venv"
say() { echo "check_clients: $*" >&2; }

ensure_tools() {
    local missing=()
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "apt-get install ${missing[*]}"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo=sudo
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    local stamp="$VENV/.imgforge-$GRPCIO_TOOLS_VERSION-$MYPY_PROTOBUF_VERSION-2"
    if [ ! -f "$stamp" ]; then
        say "creating $VENV (grpcio-tools==$GRPCIO_TOOLS_VERSION, mypy-protobuf==$MYPY_PROTOBUF_VERSION)"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q --disable-pip-version-check \
            "grpcio-tools==$GRPCIO_TOOLS_VERSION" "mypy-protobuf==$MYPY_PROTOBUF_VERSION" \
            "grpcio-reflection==$GRPCIO_TOOLS_VERSION" mypy pytest types-protobuf types-grpcio
        touch "$stamp"
    fi
    if [ ! -x "$TOOLS/node/node_modules/.bin/buf" ] ||
        [ "$("$TOOLS/node/node_modules/.bin/buf" --version)" != "$BUF_VERSION" ]; then
        say "npm install @bufbuild/buf@$BUF_VERSION"
        mkdir -p "$TOOLS/node"
        npm install --silent --no-audit --no-fund --prefix "$TOOLS/node" "@bufbuild/buf@$BUF_VERSION" >/dev/null
    fi
}

# Writes the generated code for both clients under $1 (python/... and go/..., the same
# layout as clients/).
generate() {
    local out="$1"
    local py="$out/python/src/imgforge/v1" go="$out/go"
    mkdir -p "$py" "$go"
    local protos=(proto/imgforge/v1/*.proto)
    PATH="$VENV/bin:$PATH" "$VENV/bin/python" -m grpc_tools.protoc -I proto \
        --python_out="$out/python/src" --pyi_out="$out/python/src" \
        --grpc_python_out="$out/python/src" --mypy_grpc_out=quiet:"$out/python/src" \
        "${protos[@]}"
    printf '%s\n' '"""Generated from proto/imgforge/v1 by scripts/check_clients.sh; never edited by hand."""' \
        >"$py/__init__.py"
    protoc -I proto -I /usr/include \
        --go_out="$go" --go_opt=module="$GO_MODULE" \
        --go-grpc_out="$go" --go-grpc_opt=module="$GO_MODULE" \
        "${protos[@]}"
}

# Replaces the checked-in generated code with fresh output.
install_generated() {
    local tmp="$1"
    rm -rf clients/python/src/imgforge/v1 clients/go/imgforgev1
    cp -r "$tmp/python/src/imgforge/v1" clients/python/src/imgforge/v1
    cp -r "$tmp/go/imgforgev1" clients/go/imgforgev1
}

check_generated() {
    local tmp="$1"
    local rc=0
    diff -ru clients/python/src/imgforge/v1 "$tmp/python/src/imgforge/v1" -x __pycache__ || rc=1
    diff -ru clients/go/imgforgev1 "$tmp/go/imgforgev1" || rc=1
    if [ $rc -ne 0 ]; then
        say "generated clients are stale: run scripts/check_clients.sh generate and commit"
        return 1
    fi
}

# GOPATH mode against Debian's Go packages (no module proxy here): a GOPATH whose
# src/$GO_MODULE is a symlink to clients/go.
go_env() {
    local gopath="$TOOLS/gopath"
    mkdir -p "$gopath/src/$(dirname "$GO_MODULE")"
    ln -sfn "$ROOT/clients/go" "$gopath/src/$GO_MODULE"
    export GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOFLAGS= GOCACHE="$TOOLS/gocache"
}

main() {
    ensure_tools
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    generate "$tmp"
    if [ "${1:-check}" = generate ]; then
        install_generated "$tmp"
        say "regenerated clients/python and clients/go"
        return
    fi

    local started=$SECONDS
    check_generated "$tmp"
    say "generated code matches the protos"
    "$TOOLS/node/node_modules/.bin/buf" lint
    say "buf lint clean"

    cargo build --locked --bin imgforge
    export IMGFORGE_BIN="$ROOT/target/debug/imgforge"

    # The package as a user installs it (its declared floors must be met by what is there).
    "$VENV/bin/pip" install -q --disable-pip-version-check -e clients/python
    (cd clients/python && "$VENV/bin/mypy" --strict src/imgforge/client examples)
    (cd clients/python && "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests)

    # The Go cover example streams from the Python tests' OpenAI images emulator (it prints its
    # base URL, then serves until killed).
    emulator_out="$tmp/openai-images-emulator.out"
    (cd clients/python/tests && exec "$VENV/bin/python" openai_images_emulator.py) >"$emulator_out" &
    emulator_pid=$!
    # (|| true: under set -e the killed emulator's status would become the script's.)
    trap 'kill "$emulator_pid" 2>/dev/null || true; wait "$emulator_pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
    for _ in $(seq 100); do
        [ -s "$emulator_out" ] && break
        kill -0 "$emulator_pid" 2>/dev/null || { say "the OpenAI images emulator exited"; return 1; }
        sleep 0.1
    done
    IMGFORGE_TEST_OPENAI_IMAGES_URL="$(head -n1 "$emulator_out")"
    [ -n "$IMGFORGE_TEST_OPENAI_IMAGES_URL" ] || { say "the OpenAI images emulator printed no URL"; return 1; }
    export IMGFORGE_TEST_OPENAI_IMAGES_URL
    say "OpenAI images emulator at $IMGFORGE_TEST_OPENAI_IMAGES_URL"

    go_env
    (cd "$TOOLS/gopath/src/$GO_MODULE" && go vet ./... && go test -count=1 ./...)
    say "clients checked in $((SECONDS - started)) s"
}

main "$@"
