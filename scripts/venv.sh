# Source me: create or update .venv for one requirement set (runtime | training | test). Idempotent and quick
# the second time: packages are installed again only when a requirements file changes.
set -euo pipefail
kind="${1:-runtime}"
case "$kind" in
  runtime) req=requirements.txt ;;
  training|test) req="requirements-$kind.txt" ;;
  *) echo "scripts/venv.sh: unknown set '$kind' (runtime | training | test)" >&2; return 2 ;;
esac
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "ros_road_seg needs Python 3.11 or newer; set PYTHON=/path/to/python3.11+ (found: $("$PYTHON" --version 2>&1))" >&2
    return 1
  fi
  "$PYTHON" -m venv .venv || { echo "cannot create a virtual environment: on Debian/Ubuntu run 'sudo apt install python3-venv'" >&2; return 1; }
fi
stamp=".venv/.installed-$kind-$(cat requirements*.txt | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  echo "installing the $kind requirements into .venv (first run only) ..."
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r "$req"
  touch "$stamp"
fi
# ROS 2 launch is not on PyPI: its wheels (CPython 3.11) come from ../shared/ros2-launch when that folder exists;
# the tests that run `ros2 launch` skip with a reason otherwise.
launch_stamp=".venv/.installed-ros2-launch"
if [ "$kind" = test ] && [ ! -f "$launch_stamp" ] && [ -f ../shared/ros2-launch/install.sh ]; then
  if .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "installing ROS 2 launch from ../shared/ros2-launch (first run only) ..."
    PYTHON=.venv/bin/python bash ../shared/ros2-launch/install.sh >/dev/null && touch "$launch_stamp"
  else
    echo "note: ../shared/ros2-launch holds CPython 3.11 wheels; the ros2 launch tests will skip" >&2
  fi
fi
# shellcheck disable=SC1091
source .venv/bin/activate
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
