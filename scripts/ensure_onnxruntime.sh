#!/usr/bin/env bash
# Prints the path of an ONNX Runtime shared library (libonnxruntime.so) the local models can
# load, installing the PyPI `onnxruntime` wheel into the project's .venv when none is found.
#
#   export ORT_DYLIB_PATH="$(scripts/ensure_onnxruntime.sh)"
#
# Search order (the same as src/models/runtime.rs): $ORT_DYLIB_PATH, the onnxruntime package of
# `python3`, ./.venv. Idempotent: once a library exists it only looks (well under a second).
# Prints nothing and exits 0 when no library can be had (no python3, no network): the tests that
# need it then skip with a printed reason.
set -euo pipefail
cd "$(dirname "$0")/.."

# Verified with imgforge: ort 2.0.0-rc.15 (api-22) drives ONNX Runtime 1.22 and newer.
ORT_VERSION="${IMGFORGE_ORT_VERSION:-1.32.0}"
MIN_MINOR=22

say() { echo "ensure_onnxruntime: $*" >&2; }

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

if [ -n "${ORT_DYLIB_PATH:-}" ] && [ -f "$ORT_DYLIB_PATH" ]; then
    echo "$ORT_DYLIB_PATH"
    exit 0
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
    say "no python3 to install onnxruntime with; tests that need ONNX Runtime will skip"
    exit 0
fi

say "installing onnxruntime==$ORT_VERSION into .venv (once)"
if [ ! -x .venv/bin/pip ] && ! python3 -m venv .venv >&2; then
    say "python3 -m venv failed (on Debian: apt-get install python3-venv); tests that need ONNX Runtime will skip"
    exit 0
fi
# Only the wheel: the shared library needs none of the Python package's dependencies.
if ! .venv/bin/pip install --quiet --disable-pip-version-check --no-deps "onnxruntime==$ORT_VERSION" >&2; then
    say "pip could not install onnxruntime==$ORT_VERSION; tests that need ONNX Runtime will skip"
    exit 0
fi
find_in_venv || say "onnxruntime installed but no libonnxruntime.so found in .venv"
exit 0
