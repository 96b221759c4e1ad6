#!/usr/bin/env bash
# The packed kernel's builds against each other in one process, alternating (benchmarks/kernel_ab.c).
#
#   bash benchmarks/kernel_ab.sh [KC ...]        # depths of W's row blocks (KC in src/rnnkit/nn/_packed.c),
#                                                # default 1024 384 256; the first is the reference
#   bash benchmarks/kernel_ab.sh --against REV   # the working tree's kernel against git revision REV's
#
# Needs gcc and the Python headers, as the install.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src="$here/../src/rnnkit/nn/_packed.c"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
py=${PYTHON:-python3}
inc=$("$py" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
libdir=$("$py" -c "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))")
pylib=$("$py" -c "import sysconfig; print('python' + sysconfig.get_config_var('LDVERSION'))")
build() {  # build SOURCE NAME [flags...]
    local source=$1 name=$2
    shift 2
    gcc -O3 -pthread -fPIC -shared "$@" -I"$inc" "$source" -o "$out/$name.so" -L"$libdir" -l"$pylib" \
        -Wl,-rpath,"$libdir"
    builds+=("$out/$name.so")
}
builds=()
if [[ ${1:-} == --against ]]; then
    rev=${2:?--against needs a git revision}
    git -C "$here/.." show "$rev:src/rnnkit/nn/_packed.c" > "$out/reference.c"
    build "$out/reference.c" "$rev"
    build "$src" tree
else
    depths=("${@:-1024 384 256}")
    read -r -a depths <<< "${depths[*]}"
    for kc in "${depths[@]}"; do build "$src" "kc$kc" -DKC="$kc"; done
fi
gcc -O2 "$here/kernel_ab.c" -o "$out/kernel_ab" -ldl
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
# the steps' products at hidden 650 and 200 (batch 20), 256 (batch 64) and 128 (batch 1)
for shape in "20 650 2600 5" "20 2600 650 5" "20 200 800 100" "20 800 200 100" "64 256 1024 20" \
             "1 128 512 1000" "1 512 128 1000"; do
    for cores in 1 2; do
        "$out/kernel_ab" $shape "${ROUNDS:-200}" $cores "${builds[@]}" | sed "s#$out/##g"
    done
done
