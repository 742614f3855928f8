#!/usr/bin/env bash
# System packages the project uses, installed with apt when run as root (as on a fresh CI or
# container image), otherwise listed with the command to install them:
#   - dataset-fashion-mnist: the Fashion-MNIST files of the main study (Debian package; root
#     because apt installs into /usr/share/datasets/fashion-mnist). Skipped when present.
#   - chromium, only with --tests (what `make test` passes): two report tests open report.html
#     in headless Chromium to check that every embedded image loads (they skip without it).
#     `make study` and `make quick` never install it. AUTOENC_SKIP_CHROMIUM=1 skips it too.
# Nothing else runs as root; Python packages go into the project's .venv.
set -u
need=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || need+=(dataset-fashion-mnist)
if [ "${1:-}" = "--tests" ] && [ "${AUTOENC_SKIP_CHROMIUM:-0}" != 1 ] && ! command -v chromium >/dev/null 2>&1; then
  need+=(chromium)
fi
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
