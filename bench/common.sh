# Shared by the bench scripts (sourced): the reference venv ($py, built on first use under
# ~/.cache/botforge: ~2 minutes), the 1,000,000-bar synthetic file ($syn) and the cargo target.
cache="$HOME/.cache/botforge"
venv="$cache/bench-venv-$(sha256sum bench/requirements.txt | cut -c1-12)"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import vectorbt, backtesting, talib, pyarrow' 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements.txt
fi
py="$venv/bin/python"
syn="$cache/bench-data/SYN1M.csv"
if [ ! -s "$syn" ]; then
  mkdir -p "$(dirname "$syn")"
  "$py" bench/make_data.py "$syn.tmp" && mv "$syn.tmp" "$syn"
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
