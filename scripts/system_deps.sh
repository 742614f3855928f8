#!/usr/bin/env bash
# System packages the project uses: Fashion-MNIST (Debian package dataset-fashion-mnist) and
# Chromium (headless check that report images load). Installs them when run as root with apt;
# otherwise says what to install and carries on.
set -u
need=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || need+=(dataset-fashion-mnist)
if [ "${AUTOENC_SKIP_CHROMIUM:-0}" != 1 ] && ! command -v chromium >/dev/null 2>&1; then need+=(chromium); fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  exit $?
fi
echo "note: missing system packages: ${need[*]}"
echo "      install them with: sudo apt-get install -y ${need[*]}"
echo "      (or point AUTOENC_DATA_DIR at a folder holding the Fashion-MNIST IDX files)"
exit 0
