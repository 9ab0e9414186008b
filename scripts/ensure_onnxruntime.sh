#!/usr/bin/env bash
# Prints the path of an ONNX Runtime shared library (libonnxruntime.so) the local models can
# load, installing the PyPI `onnxruntime` wheel into the project's .venv when none is found.
#
#   export ORT_DYLIB_PATH="$(scripts/ensure_onnxruntime.sh)"
#
# Search order (the same as src/models/runtime.rs): $ORT_DYLIB_PATH, the onnxruntime package of
# `python3`, ./.venv. Idempotent: once a library exists it only looks (well under a second).
# When no library can be had (no python3, no venv module, no network) it says why on stderr,
# prints nothing, and exits 0 on a user's machine (the tests that need ONNX Runtime then skip
# with a printed reason) but 1 under CI=true or IMGFORGE_REQUIRE_ALL=1, where they must run.
set -euo pipefail
cd "$(dirname "$0")/.."

# Verified with imgforge: ort 2.0.0-rc.15 (api-22) drives ONNX Runtime 1.22 and newer.
ORT_VERSION="${IMGFORGE_ORT_VERSION:-1.32.0}"
MIN_MINOR=22

say() { echo "ensure_onnxruntime: $*" >&2; }

# The same rule as the tests' (tests/common/mod.rs): IMGFORGE_REQUIRE_ALL decides, else CI.
required() {
    local flag="${IMGFORGE_REQUIRE_ALL:-${CI:-}}"
    case "${flag,,}" in 1 | true | yes) return 0 ;; *) return 1 ;; esac
}

# Says loudly why there is no library, then ends: a failure where ONNX Runtime is required.
give_up() {
    say "ERROR: no ONNX Runtime library: $*"
    if required; then
        say "ONNX Runtime is required here (CI=true or IMGFORGE_REQUIRE_ALL=1): failing"
        exit 1
    fi
    say "tests that need ONNX Runtime will skip (they fail instead under CI=true)"
    exit 0
}

# The versioned library file in a capi/ folder, if any.
library_in() {
    local dir="$1"
    [ -d "$dir" ] || return 1
    local lib
    lib="$(ls -1 "$dir"/libonnxruntime.so* 2>/dev/null | awk '{ print length, $0 }' | sort -rn | head -n1 | cut -d' ' -f2-)"
    [ -n "$lib" ] && [ -f "$lib" ] && echo "$lib"
}

# Accepts libonnxruntime.so.1.MINOR.* with MINOR >= MIN_MINOR, or an unversioned name.
new_enough() {
    local minor
    minor="$(basename "$1" | sed -n 's/^libonnxruntime\.so\.1\.\([0-9]*\).*/\1/p')"
    [ -z "$minor" ] || [ "$minor" -ge "$MIN_MINOR" ]
}

if [ -n "${ORT_DYLIB_PATH:-}" ]; then
    if [ -f "$ORT_DYLIB_PATH" ]; then
        echo "$ORT_DYLIB_PATH"
        exit 0
    fi
    say "ORT_DYLIB_PATH=$ORT_DYLIB_PATH is not a file; looking elsewhere"
fi

if command -v python3 >/dev/null 2>&1; then
    pkg="$(python3 -c 'import onnxruntime, os; print(os.path.dirname(onnxruntime.__file__))' 2>/dev/null || true)"
    if [ -n "$pkg" ] && lib="$(library_in "$pkg/capi")" && new_enough "$lib"; then
        echo "$lib"
        exit 0
    fi
fi

find_in_venv() {
    local site
    for site in .venv/lib/python3*/site-packages; do
        if lib="$(library_in "$site/onnxruntime/capi")" && new_enough "$lib"; then
            echo "$PWD/${lib#./}"
            return 0
        fi
    done
    return 1
}

if find_in_venv; then
    exit 0
fi

if ! command -v python3 >/dev/null 2>&1; then
    give_up "no python3 to install the onnxruntime wheel with (install python3 and python3-venv, or set ORT_DYLIB_PATH)"
fi

say "installing onnxruntime==$ORT_VERSION into .venv (once)"
if [ ! -x .venv/bin/pip ] && ! python3 -m venv .venv >&2; then
    give_up "python3 -m venv .venv failed (on Debian: apt-get install python3-venv)"
fi
# Only the wheel: the shared library needs none of the Python package's dependencies.
if ! .venv/bin/pip install --quiet --disable-pip-version-check --no-deps "onnxruntime==$ORT_VERSION" >&2; then
    give_up "pip could not install onnxruntime==$ORT_VERSION from PyPI (offline? no wheel for this platform? see pip's message above)"
fi
find_in_venv || give_up "onnxruntime==$ORT_VERSION installed, but .venv has no libonnxruntime.so 1.$MIN_MINOR or newer"
exit 0
