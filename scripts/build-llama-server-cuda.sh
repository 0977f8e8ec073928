#!/usr/bin/env bash
# Build a CUDA llama-server (and llama-fit-params) from the same llama.cpp source as
# scripts/install-llama-server.sh, for the planner's proof against real CUDA buffers
# (benchmarks/accuracy_cuda.py, issue 4).
#
# Why a separate build: the Vulkan/lavapipe build proves the placement rules on a software GPU;
# CUDA has its own buffer types (CUDA0, CUDA_Host) and its own compute-graph sizes, and only a
# CUDA build run on a real NVIDIA GPU shows them. Why these options:
#   - CMAKE_CUDA_ARCHITECTURES=90 (H100/H200) only, GGML_CUDA_FA=OFF (FlashAttention kernels
#     compiled out) and NCCL off: the compile is long on a small machine and the proof runs
#     with `-fa off`; a FA-less build allocates exactly what a full build does with `-fa off`.
#   - dynamic cudart/cuBLAS: the static cuBLAS would make the binary hundreds of MiB; the GPU
#     machine has both libraries (CUDA toolkit / PyTorch wheels), so only the binary travels.
#   - when the local CUDA toolkit has no cuBLAS (an nvcc-only install), its headers and
#     libraries come from the `nvidia-cublas` wheel (PyPI), unpacked into the cache.
#
# Usage: bash scripts/build-llama-server-cuda.sh     (run scripts/install-llama-server.sh first:
#        it fetches and unpacks the source)
# Environment: ONBOARD_CACHE (default ~/.cache/onboard), JOBS (default 2), CUDA_ARCH (default 90),
#              CUBLAS_WHEEL_VERSION (default 13.0.2.14), PYTHON (default python3), FORCE=1 to rebuild.
# Result: ${ONBOARD_CACHE:-$HOME/.cache/onboard}/llama.cpp-cuda/bin/{llama-server,llama-fit-params}
set -euo pipefail

LLAMA_BUILD=11434
CACHE="${ONBOARD_CACHE:-$HOME/.cache/onboard}"
SRC_ROOT="$CACHE/llama.cpp/work-$LLAMA_BUILD/src"
PREFIX="$CACHE/llama.cpp-cuda"
BUILD_DIR="$PREFIX/build"
BIN="$PREFIX/bin"
JOBS="${JOBS:-2}"
CUDA_ARCH="${CUDA_ARCH:-90}"
PYTHON="${PYTHON:-python3}"
CUBLAS_WHEEL_VERSION="${CUBLAS_WHEEL_VERSION:-13.0.2.14}"
TARGETS=(llama-server llama-fit-params)

log() { printf '[build-llama-server-cuda] %s\n' "$*" >&2; }

if [[ -x "$BIN/llama-server" && "${FORCE:-0}" != 1 ]]; then
    log "cached build found in $BIN"
    echo "$BIN/llama-server"
    exit 0
fi

command -v nvcc >/dev/null 2>&1 || { log "nvcc not found (install the CUDA toolkit)"; exit 1; }
LLAMA_SRC="$(dirname "$(find "$SRC_ROOT" -path '*/tools/server/CMakeLists.txt' -print -quit 2>/dev/null)")"
LLAMA_SRC="${LLAMA_SRC%/tools/server}"
[[ -f "$LLAMA_SRC/CMakeLists.txt" ]] || {
    log "llama.cpp sources not found under $SRC_ROOT: run scripts/install-llama-server.sh first"; exit 1; }
log "sources: $LLAMA_SRC"

# --- cuBLAS: from the toolkit, else from the nvidia-cublas wheel --------------------------------
# the toolkit's root: CUDA_HOME, else where `nvcc -v` says it lives (nvcc may be a wrapper script)
if [[ -z "${CUDA_HOME:-}" ]]; then
    probe="$(mktemp -d)"
    echo 'int main() { return 0; }' >"$probe/probe.cu"
    CUDA_HOME="$(nvcc -v -c "$probe/probe.cu" -o "$probe/probe.o" 2>&1 | sed -n 's/^#\$ TOP=//p' | head -n1)"
    rm -rf "$probe"
fi
CUDA_HOME="$(readlink -f "${CUDA_HOME:-/usr/local/cuda}")"
[[ -f "$CUDA_HOME/include/cuda.h" ]] || { log "no cuda.h under $CUDA_HOME (set CUDA_HOME)"; exit 1; }
log "CUDA toolkit: $CUDA_HOME"
extra=()
if [[ ! -f "$CUDA_HOME/include/cublas_v2.h" ]]; then
    CUBLAS="$PREFIX/cublas/nvidia/cu13"
    if [[ ! -f "$CUBLAS/include/cublas_v2.h" ]]; then
        log "the toolkit has no cuBLAS: fetching the nvidia-cublas==$CUBLAS_WHEEL_VERSION wheel"
        mkdir -p "$PREFIX/wheels" "$PREFIX/cublas"
        "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
            --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
            -d "$PREFIX/wheels" "nvidia-cublas==$CUBLAS_WHEEL_VERSION"
        (cd "$PREFIX/cublas" && unzip -q -o "$PREFIX"/wheels/nvidia_cublas-*.whl 'nvidia/cu13/*')
        rm -f "$PREFIX"/wheels/nvidia_cublas-*.whl
    fi
    ln -sf libcublas.so.13 "$CUBLAS/lib/libcublas.so"
    ln -sf libcublasLt.so.13 "$CUBLAS/lib/libcublasLt.so"
    extra+=(-DCUDA_cublas_LIBRARY="$CUBLAS/lib/libcublas.so"
            -DCUDA_cublasLt_LIBRARY="$CUBLAS/lib/libcublasLt.so"
            -DCMAKE_CUDA_FLAGS="-I$CUBLAS/include"
            -DCMAKE_CXX_FLAGS="-I$CUBLAS/include"
            -DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$CUBLAS/lib")
fi

# --- libcuda: the driver's library is only on the GPU machine; link against a stub ---------------
# ggml-cuda links the driver API (VMM memory pool) directly. A toolkit without the driver stub
# (lib64/stubs/libcuda.so) gets one made here: every cu* function ggml-cuda calls, as an empty
# global symbol under the name cuda.h maps it to (cuMemGetInfo -> cuMemGetInfo_v2 and so on),
# in a library named libcuda.so.1 like the driver's. At run time the real driver is loaded.
if ! find "$CUDA_HOME/" -path '*stubs/libcuda.so' -print -quit 2>/dev/null | grep -q .; then
    STUB="$PREFIX/stubs"
    mkdir -p "$STUB"
    names="$(grep -ohE '\bcu[A-Z][A-Za-z0-9_]*[[:space:]]*\(' "$LLAMA_SRC"/ggml/src/ggml-cuda/*.cu \
             "$LLAMA_SRC"/ggml/src/ggml-cuda/*.cuh | sed 's/[[:space:]]*($//' | sort -u)"
    {
        echo '#include <cuda.h>'
        echo '#define STUB_STR(x) #x'
        echo '#define STUB(f) __asm__(".globl " STUB_STR(f) "\n.type " STUB_STR(f) ",@function\n" STUB_STR(f) ":\n ret\n");'
        for n in $names; do
            if grep -qE "CUDAAPI[[:space:]]+$n[[:space:]]*\(" "$CUDA_HOME/include/cuda.h"; then echo "STUB($n)"; fi
        done
    } >"$STUB/libcuda-stub.c"
    cc -shared -fPIC -I"$CUDA_HOME/include" -Wl,-soname,libcuda.so.1 -o "$STUB/libcuda.so" "$STUB/libcuda-stub.c"
    extra+=(-DCUDA_cuda_driver_LIBRARY="$STUB/libcuda.so")
    log "driver stub: $(nm -D --defined-only "$STUB/libcuda.so" | awk '$2=="T"{print $3}' | tr '\n' ' ')"
fi

# --- build --------------------------------------------------------------------------------------
start=$(date +%s)
cmake -S "$LLAMA_SRC" -B "$BUILD_DIR" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF \
    -DGGML_NATIVE=OFF \
    -DGGML_CUDA=ON \
    -DGGML_CUDA_FA=OFF \
    -DGGML_CUDA_NCCL=OFF \
    -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" \
    -DLLAMA_BUILD_NUMBER="$LLAMA_BUILD" \
    -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_OPENSSL=OFF \
    -DLLAMA_CURL=OFF \
    "${extra[@]}" >"$PREFIX/cmake-configure.log"
log "configured in $(( $(date +%s) - start )) s; building ${TARGETS[*]} with -j$JOBS"
cmake --build "$BUILD_DIR" --target "${TARGETS[@]}" -j"$JOBS"
log "built in $(( $(date +%s) - start )) s"

mkdir -p "$BIN"
for t in "${TARGETS[@]}"; do
    install -m 0755 "$BUILD_DIR/bin/$t" "$BIN/$t"
    strip "$BIN/$t" || true
done
echo "$LLAMA_BUILD" >"$BIN/BUILD"
ls -l "$BIN"
echo "$BIN/llama-server"
