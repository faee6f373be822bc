#!/bin/sh
# prebuildify calls this in place of node-gyp (`--node-gyp`). It passes node-gyp flags (--target, ...)
# that cmake-js would misread, so they are ignored: the addon is Node-API (ABI-stable), one binary per
# platform. The output lands in build/Release, where prebuildify looks for it.
set -e
cd "$(dirname "$0")/.."
exec npx cmake-js rebuild --out build
