#!/usr/bin/env bash
# Put, here, what benchmarks/gpt_nanogpt_gpu.py needs of karpathy/nanoGPT into .device/nanogpt
# (ignored, never committed; it travels with run's carry: ".device"). Only the files its
# train.py run uses: train.py, model.py, configurator.py, config/, and the LICENSE (MIT).
# The source is a bare git mirror of the repository (a session's search tool `fetch`
# github:karpathy/nanoGPT puts one at the default path).
#
#   bash tools/device_prepare.sh                       # from /work/.mirror/karpathy+nanoGPT/repo
#   NANOGPT_GIT=/path/to/nanoGPT/.git bash tools/device_prepare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
GIT_DIR_NANOGPT=${NANOGPT_GIT:-/work/.mirror/karpathy+nanoGPT/repo}
DEST=.device/nanogpt
git --git-dir="$GIT_DIR_NANOGPT" rev-parse --verify -q HEAD >/dev/null \
  || { echo "device_prepare: no nanoGPT git repository at $GIT_DIR_NANOGPT (set NANOGPT_GIT=)" >&2; exit 1; }
rm -rf "$DEST" && mkdir -p "$DEST"
git --git-dir="$GIT_DIR_NANOGPT" archive HEAD train.py model.py configurator.py config LICENSE | tar -x -C "$DEST"
git --git-dir="$GIT_DIR_NANOGPT" rev-parse HEAD > "$DEST/COMMIT"
for f in train.py model.py configurator.py config/train_shakespeare_char.py; do
  [ -f "$DEST/$f" ] || { echo "device_prepare: $f missing from the export" >&2; exit 1; }
done
git check-ignore -q "$DEST/train.py" || { echo "device_prepare: $DEST is not ignored by git: it must never be committed" >&2; exit 1; }
echo "device_prepare: nanoGPT $(cut -c1-12 "$DEST/COMMIT") in $DEST ($(du -sk "$DEST" | cut -f1) KiB)"
