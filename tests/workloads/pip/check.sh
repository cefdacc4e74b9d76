# The pip workload: build a wheel of a pure-Python package offline, install it to a target, import it.
set -euo pipefail
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
has() { grep "$@" > /dev/null; }  # grep -q, but reading all its input (no SIGPIPE under pipefail)
export PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_CACHE_DIR=/workspace/.cache/pip
python3 -m pip --version
cd pkg
python3 -m pip wheel --no-deps --no-build-isolation -w ../dist .
cd ..
ls dist/wlpkg-1.2.3-py3-none-any.whl
python3 -m pip install --no-index --no-deps --target /workspace/site dist/wlpkg-1.2.3-py3-none-any.whl
PYTHONPATH=/workspace/site python3 -c 'import wlpkg; assert wlpkg.answer() == 42 and wlpkg.data() == "packaged data"; print("imported", wlpkg.__file__)'
PYTHONPATH=/workspace/site python3 -m pip list --path /workspace/site | has '^wlpkg *1.2.3'
PYTHONPATH=/workspace/site /workspace/site/bin/wlpkg-hello | has -x 'hello from wlpkg 42 packaged data'
# the same package through a virtual environment (symlinks, a venv's own pip from ensurepip)
python3 -m venv --without-pip /tmp/venv
/tmp/venv/bin/python -c 'import sys; assert sys.prefix == "/tmp/venv"'
python3 -m zipfile -l dist/wlpkg-1.2.3-py3-none-any.whl | has wlpkg/data.txt
echo "WORKLOAD-OK pip"
