#!/usr/bin/env bash
# Installs tools at the versions pinned in pins/pins.toml into $BIN_DIR (default
# ~/.local/bin), verifying the pinned sha256 digest when the pin has one.
# Usage: ci/install-tools.sh kind nextest   (DRY_RUN=1 prints name, tag, URL and digest only)
set -euo pipefail
bin_dir="${BIN_DIR:-$HOME/.local/bin}"
mkdir -p "$bin_dir"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
args=()
for tool in "$@"; do args+=(--only "tools.$tool"); done
# XTASK: the xtask command (tests pass the built binary).
${XTASK:-cargo xtask} pins list --json "${args[@]}" > "$work/pins.json"
python3 - "$work/pins.json" > "$work/plan" <<'PY'
import json, sys
for pin in json.load(open(sys.argv[1])):
    tag = pin["version"]
    version = tag[1:] if tag.startswith("v") else tag
    fill = lambda t: t.replace("{tag}", tag).replace("{version}", version)
    name = pin["pin"].split(".", 1)[1]
    if pin.get("go_module"):
        # Built from the Go module proxy: `go install <module>@<tag>`.
        print(name, tag, "go:" + pin["go_module"], "-")
        continue
    repo = pin["source"].removeprefix("github.com/")
    url = fill(pin["url"]) if pin.get("url") else \
        f"https://github.com/{repo}/releases/download/{tag}/{fill(pin['asset'])}"
    print(name, tag, url, (pin.get("digest") or "-").removeprefix("sha256:"))
PY
if [ -n "${DRY_RUN:-}" ]; then
  cat "$work/plan"
  exit 0
fi
while read -r name tag url digest; do
  echo "installing $name $tag from $url"
  if [ "${url#go:}" != "$url" ]; then
    GOBIN="$bin_dir" CGO_ENABLED=0 go install "${url#go:}@$tag"
    continue
  fi
  curl --fail --silent --show-error --location --retry 3 --output "$work/$name.download" "$url"
  if [ "$digest" != "-" ]; then
    echo "$digest  $work/$name.download" | sha256sum --check --strict -
  fi
  case "$url" in
    *.tar.gz|*/linux)
      mkdir -p "$work/$name"
      tar -xzf "$work/$name.download" -C "$work/$name"
      binary="$(find "$work/$name" -type f \( -name "$name" -o -name "cargo-$name" \) | head -n 1)"
      install -m 0755 "$binary" "$bin_dir/$(basename "$binary")"
      ;;
    *)
      install -m 0755 "$work/$name.download" "$bin_dir/$name"
      ;;
  esac
done < "$work/plan"
echo "$bin_dir" >> "${GITHUB_PATH:-/dev/null}"
