# Shared by the example scripts: where the programs are and the phantom.
# SEGC_BIN names the folder holding segprep, segtrain, seginfer and segeval
# (the build's bin/ or an installed prefix's bin/); unset: they are on PATH.
here=$(cd "$(dirname "$0")" && pwd)
bin=${SEGC_BIN:+$SEGC_BIN/}

# make_phantom WORK: four synthetic CTs with their labels (32^3 at 6 mm)
# in WORK/phantom, the last one for validation; kept when already there.
make_phantom() {
  if [ ! -f "$1/phantom/datalist.json" ]; then
    "${bin}segprep" phantom --out "$1/phantom" --cases 4 --size 32,32,32 \
      --spacing 6 --val 1
  fi
}
