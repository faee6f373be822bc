#!/usr/bin/env bash
# bench/gpu-bundle.sh — run here (the build machine) before a GPU session: packs into .device/ (git-ignored)
# what Node needs on the GPU machine, which has no Node and no network:
#   node.xz               this machine's `node`, xz-compressed
#   vggnet.node, vggnet_testing.node   the addons of build/ (CUDA compiled in: `npm run build:native` with nvcc)
#   js/                   lib/ and the jest CUDA suites (test/cuda*.test.ts) compiled to JavaScript, test/cases
#   node_modules.tar.xz   the packages those suites and `vggnet classify` open (recorded with strace while they
#                         run here on the emulated addon, build-emu-addon, which also checks the bundle before it
#                         travels) and their dependencies
# Then: device run with carry ['.device'] and `bash bench/gpu-check.sh`, whose Node step unpacks it.
# Needs: node, npm ci done, build/ (nvcc) and build-emu-addon/ (npm run build:native:emu), strace, xz.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
D=$ROOT/.device
for f in build/Release/vggnet.node build/testing/vggnet_testing.node; do
  [[ -f $f ]] || { echo "missing $f: run npm run build:native (with nvcc on PATH)"; exit 2; }
done
grep -q '^CMAKE_CUDA_COMPILER:[A-Z]*=/' build/CMakeCache.txt || { echo "build/ has no CUDA (nvcc not found)"; exit 2; }
npm run --silent build:native:emu > /dev/null
command -v strace > /dev/null || { echo "strace is needed to record the modules opened"; exit 2; }

rm -rf "$D/js"
mkdir -p "$D"
npx tsc -p bench/gpu-node/tsconfig.json
cp -r test/cases "$D/js/test/cases"
cp build/Release/vggnet.node build/testing/vggnet_testing.node "$D/"
[[ $D/node.xz -nt $(command -v node) ]] || xz -T0 -c "$(command -v node)" > "$D/node.xz"

# The run to record: the suites and the CLI on the emulated device.
TRACE=$(mktemp)
export VGGNET_NATIVE=$ROOT/build-emu-addon/Release/vggnet.node VGGNET_TESTING_NATIVE=$ROOT/build-emu-addon/testing/vggnet_testing.node
strace -f -qq -e trace=open,openat -e status=successful -o "$TRACE" \
  node node_modules/jest/bin/jest.js -c bench/gpu-node/jest.config.js
strace -f -qq -e trace=open,openat -e status=successful -o "$TRACE.cli" \
  node .device/js/lib/cli.js classify samples/digit-7-1401.png --device cuda --top 1
# The packages of every file opened under node_modules, with their dependencies (bench/gpu-node/modules.js).
cat "$TRACE" "$TRACE.cli" | grep -oE "\"($ROOT/)?node_modules/[^\"]+\"" | tr -d '"' | sed "s|^$ROOT/||" | sort -u |
  xargs realpath -ms --relative-to="$ROOT" | node bench/gpu-node/modules.js > "$D/modules.txt"
rm -f "$TRACE" "$TRACE.cli"
tar -cf - -T "$D/modules.txt" | xz -T0 > "$D/node_modules.tar.xz"
echo "bundle: $(du -sh "$D" | cut -f1) in .device/ ($(wc -l < "$D/modules.txt") module files); carry ['.device'] (64 MiB at most)"
