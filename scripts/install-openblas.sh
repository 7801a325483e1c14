#!/usr/bin/env bash
# MLX's Linux CPU wheel ships a slow built-in BLAS; Debian's OpenBLAS makes float32 matmuls
# several times faster when preloaded. Install it where we can (root with apt), else skip quietly.
set -u
[ "$(uname -s)" = "Linux" ] || exit 0
ls /usr/lib/*-linux-gnu/libopenblas.so.0 >/dev/null 2>&1 && exit 0
command -v apt-get >/dev/null 2>&1 || exit 0
[ "$(id -u)" = "0" ] || { echo "note: install libopenblas0-pthread for faster CPU inference"; exit 0; }
echo "installing libopenblas0-pthread for faster CPU inference"
(apt-get install -y -q libopenblas0-pthread >/dev/null 2>&1 ||
  { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q libopenblas0-pthread >/dev/null 2>&1; }) ||
  echo "note: could not install libopenblas0-pthread; CPU inference stays on MLX's built-in BLAS"
