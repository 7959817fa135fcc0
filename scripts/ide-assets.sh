#!/usr/bin/env bash
# Lays out the in-browser IDEs' pinned files for `tally serve --ide-assets DIR`
# (networks without internet):
#
#   scripts/ide-assets.sh DIR
#
# Reads every `{{ASSETS}}/<package>@<version>/<path>` with its
# `integrity="sha384-…"` from the page templates (api/src/http/ide/*.html),
# fetches each package's tarball from the npm registry (`npm pack`, so npm's
# registry settings, proxy and cache apply), checks each file against the
# hash pinned in the page, and writes it to DIR/<package>@<version>/<path>.
# Any mismatch stops the script (exit 1) before that package's files are
# written. Idempotent: files already in DIR with the right hash are kept and
# their package is not fetched again. Needs bash, npm, tar, openssl.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TEMPLATES=("$ROOT"/api/src/http/ide/*.html)

if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 DIR   (then: tally serve --ide-assets DIR)" >&2
  exit 2
fi
DIR=$1
for tool in npm tar openssl; do
  command -v "$tool" >/dev/null || { echo "!! $0 needs $tool" >&2; exit 1; }
done

# sri ALGORITHM FILE: the file's Subresource Integrity value, e.g. sha384-….
sri() {
  printf '%s-%s' "$1" "$(openssl dgst "-$1" -binary "$2" | openssl base64 -A)"
}

# One line per pinned file: "<package>@<version> <path> <integrity>", from
# each tag of the templates that names {{ASSETS}} (a tag may span lines).
pins() {
  local template tag url integrity
  for template in "${TEMPLATES[@]}"; do
    tr '\n' ' ' <"$template" | tr '<' '\n' | grep -F '{{ASSETS}}/' | grep -E '^(script|link)[[:space:]]' |
      while IFS= read -r tag; do
        url=$(sed -nE 's/.*(src|href)="\{\{ASSETS\}\}\/([^"]+)".*/\2/p' <<<"$tag")
        integrity=$(sed -nE 's/.*integrity="([^"]+)".*/\1/p' <<<"$tag")
        if [ -z "$url" ] || [ -z "$integrity" ]; then
          echo "!! ${template#"$ROOT"/}: a tag naming {{ASSETS}} without src/href or integrity: <${tag:0:160}" >&2
          return 1
        fi
        # <package>@<version>/<path>, the package possibly scoped (@scope/name).
        if [[ ! "$url" =~ ^((@[^/@]+/)?[^/@]+@[^/@]+)/(.+)$ ]]; then
          echo "!! ${template#"$ROOT"/}: not <package>@<version>/<path>: $url" >&2
          return 1
        fi
        echo "${BASH_REMATCH[1]} ${BASH_REMATCH[3]} $integrity"
      done
  done | sort -u
}

LIST=$(pins)
[ -n "$LIST" ] || { echo "!! no {{ASSETS}} files found in ${TEMPLATES[*]}" >&2; exit 1; }

# A path pinned with two different hashes is a template error.
dups=$(awk '{print $1 "/" $2}' <<<"$LIST" | sort | uniq -d)
if [ -n "$dups" ]; then
  echo "!! pinned with different hashes in the templates: $dups" >&2
  exit 1
fi

# matches FILE INTEGRITY: whether FILE has that integrity value.
matches() {
  [ -f "$1" ] || return 1
  local alg=${2%%-*}
  case "$alg" in sha256 | sha384 | sha512) ;; *) echo "!! unsupported integrity: $2" >&2; exit 1 ;; esac
  [ "$(sri "$alg" "$1")" = "$2" ]
}

mkdir -p "$DIR"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ide-assets.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

for pkgver in $(awk '{print $1}' <<<"$LIST" | sort -u); do
  files=$(awk -v p="$pkgver" '$1 == p {print $2 " " $3}' <<<"$LIST")
  missing=0
  while read -r path integrity; do
    matches "$DIR/$pkgver/$path" "$integrity" || missing=1
  done <<<"$files"
  if [ "$missing" -eq 0 ]; then
    echo "==> $pkgver: up to date in $DIR"
    continue
  fi

  echo "==> $pkgver: npm pack"
  pack="$WORK/${pkgver//\//_}"
  mkdir -p "$pack/x"
  tarball=$(cd "$pack" && npm pack "$pkgver" --silent --pack-destination "$pack" | tail -n 1)
  [ -f "$pack/$tarball" ] || { echo "!! npm pack $pkgver made no tarball" >&2; exit 1; }
  tar -xzf "$pack/$tarball" -C "$pack/x"

  bad=0
  while read -r path integrity; do
    src="$pack/x/package/$path"
    if [ ! -f "$src" ]; then
      echo "!! $pkgver has no file $path" >&2
      bad=1
    elif ! matches "$src" "$integrity"; then
      echo "!! INTEGRITY MISMATCH: $pkgver/$path" >&2
      echo "!!   pinned in the page: $integrity" >&2
      echo "!!   npm registry file:  $(sri "${integrity%%-*}" "$src")" >&2
      bad=1
    fi
  done <<<"$files"
  if [ "$bad" -ne 0 ]; then
    echo "!! $pkgver: refusing to install files that differ from the pinned hashes" >&2
    exit 1
  fi

  while read -r path integrity; do
    dest="$DIR/$pkgver/$path"
    mkdir -p "$(dirname "$dest")"
    cp "$pack/x/package/$path" "$dest.tmp.$$"
    mv -f "$dest.tmp.$$" "$dest"
    echo "    $pkgver/$path  $integrity"
  done <<<"$files"
done

echo "==> IDE assets ready in $DIR (tally serve --ide-assets $DIR)"
