#!/usr/bin/env bash
# Installs the Debian packages segc builds with. Idempotent: does nothing when
# everything is present. As root it runs apt-get; otherwise it prints the one
# command to run.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libdnnl-dev                            # oneDNN 2.x: convolutions
  libnifti2-dev libniftiio-dev libznz-dev  # NIfTI-1/2 (nifti2_io.h is in libniftiio-dev)
  libcjson-dev zlib1g-dev libpng-dev
  libopenmpi-dev openmpi-bin
  libopenjp2-7-dev libcharls-dev         # DICOM pixel data: JPEG 2000, JPEG-LS
  dcm2niix                               # tests only: the DICOM reader's reference
  libmicrohttpd-dev                      # segserve's HTTP server
  dicom3tools                            # tests only: dciodvfy checks the DICOM SEG
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all build dependencies are installed"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages: ${missing[*]}" >&2
  echo "setup: run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
