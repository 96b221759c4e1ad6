#!/usr/bin/env bash
# The packed kernel's depth of W's row blocks (KC in src/rnnkit/nn/_packed.c), builds against each other
# in one process, alternating (benchmarks/kernel_ab.c). Usage: bash benchmarks/kernel_ab.sh [KC ...]
# (default 1024 384 256); the first is the reference. Needs gcc and the Python headers, as the install.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src="$here/../src/rnnkit/nn/_packed.c"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
py=${PYTHON:-python3}
inc=$("$py" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
libdir=$("$py" -c "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))")
pylib=$("$py" -c "import sysconfig; print('python' + sysconfig.get_config_var('LDVERSION'))")
depths=("${@:-1024 384 256}")
read -r -a depths <<< "${depths[*]}"
builds=()
for kc in "${depths[@]}"; do
    gcc -O3 -pthread -fPIC -shared -DKC="$kc" -I"$inc" "$src" -o "$out/kc$kc.so" -L"$libdir" -l"$pylib" -Wl,-rpath,"$libdir"
    builds+=("$out/kc$kc.so")
done
gcc -O2 "$here/kernel_ab.c" -o "$out/kernel_ab" -ldl
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
for shape in "20 650 2600 5" "20 2600 650 5" "20 800 200 100"; do
    for cores in 1 2; do
        "$out/kernel_ab" $shape 200 $cores "${builds[@]}" | sed "s#$out/##g"
    done
done
