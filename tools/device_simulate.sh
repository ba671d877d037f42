#!/usr/bin/env bash
# Rehearse tools/device_check.sh on this CPU machine in an environment shaped like the GPU
# machine's python3: a venv with no site packages of its own that sees only those of .venv's
# distributions that the device image also has (its package list in KINDS.md), so the Jupyter
# stack, ipywidgets, mnist1d, pybtex, captum, opacus must come from the carried wheels, as there.
# The wheels are downloaded for THIS Python (often 3.11; the device's is 3.12) into /tmp.
#
#   bash tools/device_simulate.sh [device_check.py args...]
#   e.g. bash tools/device_simulate.sh --budget 150 --only chapters/01_background.ipynb --profile cpu
set -euo pipefail
cd "$(dirname "$0")/.."
KINDS=${KINDS:-/work/.library/device/KINDS.md}
SIM=${SIM:-/tmp/devsim}
[ -f "$KINDS" ] || { echo "device_simulate: no device package list at $KINDS (set KINDS=)" >&2; exit 1; }
pyver=$(.venv/bin/python -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
rm -rf "$SIM" && mkdir -p "$SIM/base"
PYVER=$pyver DEST="$SIM/whl" bash tools/device_wheels.sh > "$SIM/wheels.log" 2>&1 || { cat "$SIM/wheels.log"; exit 1; }
.venv/bin/python - "$KINDS" "$SIM/base" <<'PY'
"""Link into BASE the top-level files of each .venv distribution that the device image lists."""
import re, sys
from importlib import metadata
from pathlib import Path

def canon(name):
    return re.sub(r"[-_.]+", "-", name).lower()

text = Path(sys.argv[1]).read_text()
listed = text.split("Packages: ", 1)[1].split(".\n", 1)[0]
device = {canon(n) for n in listed.split(", ")}
base = Path(sys.argv[2])
linked, skipped = [], []
for dist in metadata.distributions():
    name = canon(dist.metadata["Name"])
    if name not in device:
        skipped.append(name)
        continue
    linked.append(name)
    site = Path(dist.locate_file(""))
    tops = {Path(f).parts[0] for f in (dist.files or []) if not str(f).startswith("..")}
    for top in tops:
        source, target = site / top, base / top
        if source.exists() and not target.exists() and top != "__pycache__":
            target.symlink_to(source)
print(f"device_simulate: {len(linked)} distributions visible, {len(skipped)} hidden "
      f"(hidden include: {', '.join(sorted(n for n in skipped if n in {'ipykernel', 'nbval', 'ipywidgets', 'mnist1d', 'traitlets', 'pybtex', 'captum', 'opacus', 'labs'}))})")
PY
.venv/bin/python -m venv --without-pip "$SIM/venv"
site=$("$SIM/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$SIM/base" > "$site/device_base.pth"
"$SIM/venv/bin/python" -c 'import torch, numpy, pytest, pip; print("device_simulate: torch", torch.__version__, "numpy", numpy.__version__)'
if "$SIM/venv/bin/python" -c 'import ipykernel' 2>/dev/null; then echo "device_simulate: ipykernel is visible: not a faithful device" >&2; exit 1; fi
PYTHON="$SIM/venv/bin/python" WHEELS="$SIM/whl" DEVICE_SITE="$SIM/site" OUT="${OUT:-$SIM/out}" \
  bash tools/device_check.sh "$@"
