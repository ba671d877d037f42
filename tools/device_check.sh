#!/usr/bin/env bash
# The course's GPU checks, run ON the lent GPU machine (book/authoring.md, "GPU checks"):
# installs the carried wheels (.whl/, from tools/device_wheels.sh) into /tmp/site, then
# tools/device_check.py runs the GPU benchmarks and every notebook under LABS_PROFILE=gpu,
# writing its reports into $OUT as it goes.
#
#   bash tools/device_check.sh [--budget 540] [--only NOTEBOOK ...] [...]   (device_check.py --help)
#
# PYTHON, WHEELS, DEVICE_SITE and OUT may be set (tools/device_simulate.sh does, to rehearse here).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WHEELS=${WHEELS:-.whl}
SITE=${DEVICE_SITE:-/tmp/site}
export OUT=${OUT:-$PWD/_build/device_out}
mkdir -p "$OUT"
start=$(date +%s)
{
  echo "device_check setup, $(date -u +%FT%TZ), $($PY --version 2>&1) at $(command -v "$PY")"
  ls "$WHEELS"/*.whl >/dev/null || exit 1
  rm -rf "$SITE"
  "$PY" -m pip install -q --disable-pip-version-check --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target "$SITE" "$WHEELS"/*.whl || exit 1
  echo "installed $(ls "$WHEELS"/*.whl | wc -l) wheels from $WHEELS into $SITE"
} > "$OUT/setup.log" 2>&1 || { cat "$OUT/setup.log"; echo "device_check: the wheels in $WHEELS did not install (above)"; exit 1; }
cat "$OUT/setup.log"
export PYTHONPATH="$SITE:$PWD" PYTHONUNBUFFERED=1 PYDEVD_DISABLE_FILE_VALIDATION=1 JUPYTER_PLATFORM_DIRS=1
export JUPYTER_RUNTIME_DIR=${JUPYTER_RUNTIME_DIR:-/tmp/jupyter-runtime} IPYTHONDIR=${IPYTHONDIR:-/tmp/ipython}
# device_check.py's budget counts from here: pass it what is left of the caller's
exec "$PY" tools/device_check.py --site "$SITE" --setup-seconds "$(( $(date +%s) - start ))" "$@"
