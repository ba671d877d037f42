#!/usr/bin/env bash
# Download, here (where pip reaches PyPI), the wheels that the GPU machine lacks for
# tools/device_check.sh: the Jupyter stack nbval runs notebooks with, ipywidgets (chapters 1-7
# import it at top level), mnist1d (the MNIST-1D generator), pybtex and latexcodec (chapter 13),
# captum and opacus (chapters 12a/12b cross-check against them when present). Everything else
# the notebooks and benchmarks import (torch, numpy, scipy, scikit-learn, matplotlib, pytest,
# pytest-xdist, psutil, jax, onnx, onnxruntime, transformers, peft, ...) is already on that
# machine's image (/work/.library/device/KINDS.md lists it). Left out on purpose: shap (only
# benchmarks/explain_speed.py imports it), myst-nb (labs.notebook.glue does nothing without it),
# debugpy (ipykernel runs without it; only a debugger would need it).
#
#   bash tools/device_wheels.sh            # the device's Python: cp312, into .whl/
#   PYVER=3.11 DEST=/tmp/whl311 bash tools/device_wheels.sh   # the same set for another Python
#
# Versions are constraints.txt's pins (one version of each: two would stop the install there).
# The wheels travel in the working tree (run's carry: ".whl"), which may carry 64 MiB in all.
set -euo pipefail
cd "$(dirname "$0")/.."
PYVER=${PYVER:-3.12}
DEST=${DEST:-.whl}
LIMIT_MIB=${LIMIT_MIB:-24}   # well under 64 MiB: the tracked tree (~5 MB) and .device/ travel too
PACKAGES=(
  nbval nbformat fastjsonschema jsonschema jsonschema-specifications referencing rpds-py
  jupyter_core platformdirs traitlets jupyter_client pyzmq tornado
  ipykernel comm ipython ipython_pygments_lexers matplotlib-inline nest-asyncio
  jedi parso pexpect ptyprocess prompt_toolkit wcwidth stack-data asttokens executing pure_eval
  ipywidgets widgetsnbextension jupyterlab_widgets
  mnist1d pybtex latexcodec captum opacus
)
norm() { echo "$1" | tr 'A-Z_.' 'a-z--'; }
specs=()
for name in "${PACKAGES[@]}"; do
  pin=$(grep -i -E "^$(norm "$name" | sed 's/-/[-_.]/g')==" constraints.txt | head -1 || true)
  [ -n "$pin" ] || { echo "device_wheels: $name has no pin in constraints.txt" >&2; exit 1; }
  specs+=("$pin")
done
if [ "$DEST" = .whl ] && ! git check-ignore -q .whl/probe.whl; then
  echo "device_wheels: .whl/ is not ignored by git (add /.whl/ to .gitignore): wheels must never be committed" >&2; exit 1
fi
rm -rf "$DEST" && mkdir -p "$DEST"
python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --python-version "$PYVER" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_26_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
  --platform linux_x86_64 -d "$DEST" "${specs[@]}" 2> >(grep -v "^WARNING: Location 'file:" >&2)
# Would they install there? pip's own tag check for that Python and platform, installing nothing.
python3 -m pip install --quiet --disable-pip-version-check --dry-run --no-index --no-deps --only-binary=:all: \
  --python-version "$PYVER" --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --target "$(mktemp -d)" "$DEST"/*.whl \
  || { echo "device_wheels: the wheels in $DEST would not install for cp${PYVER/./} on manylinux x86_64" >&2; exit 1; }
count=$(ls "$DEST"/*.whl | wc -l)
[ "$count" -eq "${#specs[@]}" ] || { echo "device_wheels: ${#specs[@]} packages but $count wheels in $DEST" >&2; ls "$DEST" >&2; exit 1; }
total=$(du -cb "$DEST"/*.whl | tail -1 | cut -f1)
ls -l "$DEST"/*.whl | awk '{printf "%9d  %s\n", $5, $NF}'
echo "device_wheels: $count wheels, $((total / 1024)) KiB in $DEST (limit ${LIMIT_MIB} MiB)"
[ "$total" -lt $((LIMIT_MIB * 1024 * 1024)) ] || { echo "device_wheels: over ${LIMIT_MIB} MiB" >&2; exit 1; }
# What a run call sends: tracked and untracked-not-ignored files, plus the carried .whl and .device.
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
device=$( (find .device -type f -print0 2>/dev/null || true) | xargs -0 -r stat -c %s | awk '{s += $1} END {print s + 0}')
sum=$((tree + total + device))
echo "device_wheels: a run with carry [\".whl\", \".device\"] sends about $((sum / 1048576)) MiB (tree $((tree / 1024)) KiB," \
  "wheels $((total / 1024)) KiB, .device $((device / 1024)) KiB); the limit is 64 MiB"
[ "$sum" -lt $((48 * 1024 * 1024)) ] || { echo "device_wheels: too close to the 64 MiB a run may send" >&2; exit 1; }
