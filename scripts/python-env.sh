#!/usr/bin/env bash
# Creates (or reuses) the Python virtual environment the Python-facing tests need: the pytest
# suite of the Python package and the OpenEnv-client tests of `rlm serve`.
#
# The venv lives in target/python-env (override with RLM_PYTHON_ENV) and holds exactly the pinned
# packages of scripts/python-requirements.txt, installed from PyPI with pip. It is rebuilt only
# when that file changes (a stamp records its hash). Prints the venv's python on stdout.
#
# Needs CPython >= 3.9 with the venv module (PYTHON selects the interpreter; default python3).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
env_dir="${RLM_PYTHON_ENV:-$root/target/python-env}"
requirements="$root/scripts/python-requirements.txt"
python="${PYTHON:-python3}"

want="$(sha256sum "$requirements" | cut -d' ' -f1)"
stamp="$env_dir/.requirements.sha256"
if [[ -x "$env_dir/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "$env_dir/bin/python"
    exit 0
fi

echo "python-env: creating $env_dir from scripts/python-requirements.txt" >&2
rm -rf "$env_dir"
"$python" -m venv "$env_dir" >&2
"$env_dir/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
"$env_dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
echo "$want" > "$stamp"
echo "$env_dir/bin/python"
