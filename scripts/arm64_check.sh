#!/usr/bin/env bash
# Does ecg-edge install and answer the same on 64-bit ARM Debian (Raspberry Pi 4/5) as natively?
#
# Builds (or reuses) an arm64 Debian root under $WORK with debootstrap, runs it through
# qemu-user-static (binfmt_misc), installs a wheel built from this checkout into a fresh venv there
# (aarch64 wheels from PyPI: numpy, opencv-python-headless, ai-edge-litert, ...), classifies the sample
# scans with the models PACKAGED IN THE WHEEL, and compares with the native x86_64 install
# ($PROJECT/.venv, `make .venv/.core`) running the same commands on the same files.
#
#   sudo scripts/arm64_check.sh                      # Pi 4 (cortex-a72), bookworm
#   sudo CPU=cortex-a76 SUITE=trixie scripts/arm64_check.sh
#
# Variables:
#   SUITE    Debian suite of the root: bookworm (Python 3.11, default) or trixie (Python 3.13)
#   CPU      what qemu emulates: cortex-a72 (Pi 4, default) or cortex-a76 (Pi 5)
#   WORK     scratch folder (default /tmp/ecg-edge-arm64); the root in $WORK/root-$SUITE is reused
#            by later runs (FRESH_ROOT=1 rebuilds it); results in $WORK/out (summary.json)
#   PROJECT  the checkout (default: the repository holding this script); only read
#   SOURCE   tree (default: the working tree's tracked and untracked, not ignored, files) or head
#            (git archive HEAD)
#   MODELS   models to run, space-separated; "default" means no --model flag
#            (default: "default custom_cnn_traces_int8")
#   NATIVE_ECG  native ecg-edge to compare with (default $PROJECT/.venv/bin/ecg-edge)
#   MIRROR   Debian archive for debootstrap (default: the host's, as its apt sources name it)
#
# Exit: 0 the arm64 install agrees with native (same label/uncertain/reason/layout/error on every file,
# max |dp| of probabilities < 1e-3); 1 disagreement or failure; 77 cannot run on this machine (not root,
# no apt-get, no binfmt_misc, no aarch64 emulation, Debian archive unreachable): one line
# "skipped: REASON" is printed. Whole run from scratch: about 4-7 min on 2 cores; with the root reused,
# less.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROJECT=${PROJECT:-$(git -C "$SCRIPT_DIR" rev-parse --show-toplevel 2>/dev/null || dirname "$SCRIPT_DIR")}
PROJECT=$(cd "$PROJECT" && pwd)
SUITE=${SUITE:-bookworm}
CPU=${CPU:-cortex-a72}
WORK=${WORK:-/tmp/ecg-edge-arm64}
SOURCE=${SOURCE:-tree}
MODELS=${MODELS:-default custom_cnn_traces_int8}
NATIVE_ECG=${NATIVE_ECG:-$PROJECT/.venv/bin/ecg-edge}
FRESH_ROOT=${FRESH_ROOT:-0}
TOLERANCE=1e-3

ROOT=$WORK/root-$SUITE
READY=$ROOT/.ecg-edge-arm64-ready   # written once the root has python3 + venv
OUT=$WORK/out
LOGS=$OUT/logs
PROBE=/opt/probe                    # inside the root: wheel + input scans
VENV=/opt/venv                      # inside the root
STATUS=fail REASON="" PHASE=start TRAPPED=0
T_START=$(date +%s.%N)

say() { printf '%s\n' "$*"; }
skip() { STATUS=skipped REASON="$*"; say "skipped: $*"; exit 77; }
fail() { STATUS=fail REASON="$*"; [ "$TRAPPED" = 1 ] || say "FAIL: $*"; exit 1; }  # on_exit says it once trapped

# phase NAME COMMAND...: run COMMAND (errexit on, output to $LOGS/NAME.log), time it, and return its
# status; on failure show the log's tail. Runs in a subshell: it cannot set this shell's variables.
phase() {
  local name=$1 t0 t1 rc=0; shift
  PHASE=$name
  t0=$(date +%s.%N)
  set +e; ( set -e; "$@" ) >"$LOGS/$name.log" 2>&1; rc=$?; set -e
  t1=$(date +%s.%N)
  awk -v n="$name" -v a="$t0" -v b="$t1" 'BEGIN { printf "%s\t%.1f\n", n, b - a }' >>"$OUT/timings.tsv"
  awk -v n="$name" -v a="$t0" -v b="$t1" -v rc="$rc" \
    'BEGIN { printf "  %-42s %6.1f s%s\n", n, b - a, rc ? "  FAILED (exit " rc ")" : "" }'
  if [ "$rc" != 0 ]; then
    say "  --- last lines of $LOGS/$name.log:"; tail -n 25 "$LOGS/$name.log" | sed 's/^/  | /'
  fi
  return "$rc"
}

# in_root COMMAND...: run inside the arm64 root with a clean environment. QEMU_CPU is read by every
# qemu-aarch64 that binfmt starts (set on the host side too, for the root's own /usr/bin/env).
in_root() {
  QEMU_CPU=$CPU chroot "$ROOT" /usr/bin/env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive QEMU_CPU="$CPU" \
    PIP_CERT=/etc/ssl/certs/host-ca-bundle.crt PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 \
    PIP_CACHE_DIR=/var/cache/ecg-edge-pip PIP_PROGRESS_BAR=off "$@"
}

unmount_root() {  # everything mounted under $ROOT, deepest first
  [ -d "$ROOT" ] || return 0
  local m
  awk -v r="$ROOT/" 'index($2, r) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" || true
  done
}

write_summary() {  # write_summary EXIT_CODE: $OUT/summary.json from what this run left in $OUT
  STATUS=$STATUS REASON=$REASON PHASE=$PHASE SUITE=$SUITE CPU=$CPU SOURCE=$SOURCE MODELS=$MODELS \
  T_START=$T_START T_END=$(date +%s.%N) OUT=$OUT EXIT_CODE=$1 \
  COMMIT=$(git -C "$PROJECT" rev-parse HEAD 2>/dev/null || echo unknown) \
  DIRTY=$(git -C "$PROJECT" status --porcelain 2>/dev/null | grep -c . || true) \
  QEMU=$(qemu-aarch64-static --version 2>/dev/null | head -1 || true) \
  python3 - <<'EOF' || echo "warning: could not write $OUT/summary.json" >&2
import json, os
e, out = os.environ, os.environ["OUT"]
def load(name):
    try:
        with open(os.path.join(out, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
timings = {}
try:
    for line in open(os.path.join(out, "timings.tsv")):
        name, secs = line.rstrip("\n").split("\t")
        timings[name] = float(secs)
except OSError:
    pass
compare = load("compare.json") or {}
summary = {
    "status": e["STATUS"], "pass": e["STATUS"] == "pass", "exit_code": int(e["EXIT_CODE"]),
    "reason": e["REASON"] or None, "last_phase": e["PHASE"],
    "suite": e["SUITE"], "cpu": e["CPU"], "qemu": e["QEMU"] or None,
    "source": {"kind": e["SOURCE"], "commit": e["COMMIT"], "uncommitted_paths": int(e["DIRTY"] or 0)},
    "models": e["MODELS"].split(),
    "versions": {"arm64": load("versions-arm64.json"), "native": load("versions-native.json")},
    "wheel": load("wheel.json"),
    "tolerance": compare.get("tolerance"), "worst_max_abs_dp": compare.get("worst_max_abs_dp"),
    "results": compare.get("models"),
    "disk": load("disk.json"),
    "seconds": {"total": round(float(e["T_END"]) - float(e["T_START"]), 1), "phases": timings},
}
with open(os.path.join(out, "summary.json"), "w") as f:
    json.dump(summary, f, indent=2)
EOF
}

on_exit() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  unmount_root
  # A failed command's own status (2, or even 77) must not pass for "skipped": only skip() gives 77.
  if [ "$rc" = 0 ]; then STATUS=pass
  elif [ "$rc" != 77 ] || [ "$STATUS" != skipped ]; then
    rc=1; STATUS=fail; REASON=${REASON:-"failed in phase '$PHASE'; logs in $LOGS"}
  fi
  [ -d "$OUT" ] && write_summary "$rc"
  [ "$rc" = 1 ] && say "FAIL: $REASON"
  [ "$rc" = 0 ] && say "PASS: ecg-edge on arm64 $SUITE ($CPU) agrees with native; $OUT/summary.json"
  exit "$rc"
}

# ---------------------------------------------------------------- can it run here at all?
[ "$(id -u)" = 0 ] || skip "not root (needs chroot, mount and apt-get)"
[ "$(uname -s)" = Linux ] || skip "not Linux"
[ "$(uname -m)" != aarch64 ] || skip "the host is aarch64 already: run the test suite natively"
command -v apt-get >/dev/null || skip "no apt-get (needs a Debian or Ubuntu host)"
command -v git >/dev/null || fail "git is needed"
command -v python3 >/dev/null || fail "python3 is needed on the host"
[ -x "$NATIVE_ECG" ] || fail "no native ecg-edge at $NATIVE_ECG to compare with: run 'make .venv/.core' first"
mapfile -t SAMPLES < <(cd "$PROJECT" && find samples -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | sort)
[ "${#SAMPLES[@]}" -gt 0 ] || fail "no sample scans under $PROJECT/samples"
case $SOURCE in tree | head) ;; *) fail "SOURCE must be tree or head, not '$SOURCE'" ;; esac
read -ra MODEL_LIST <<<"$MODELS"
[ "${#MODEL_LIST[@]}" -gt 0 ] || fail "MODELS is empty"

mkdir -p "$WORK"
exec 9>"$WORK/.lock"
flock -n 9 || fail "another arm64 check is using $WORK"
rm -rf "$OUT"; mkdir -p "$LOGS"; : >"$OUT/timings.tsv"
trap on_exit EXIT; TRAPPED=1
trap 'exit 130' INT TERM
unmount_root   # left over from a run that was killed

say "arm64 check: Debian $SUITE arm64, QEMU_CPU=$CPU, source=$SOURCE of $PROJECT, models: $MODELS"
say "phases:"

# ---------------------------------------------------------------- host tools
if ! command -v qemu-aarch64-static >/dev/null || ! command -v debootstrap >/dev/null || ! command -v update-binfmts >/dev/null; then
  phase host-apt-update apt-get update -qq || skip "cannot reach the Debian archive (host apt-get update failed)"
  phase host-apt-install apt-get install -y -qq --no-install-recommends qemu-user-static binfmt-support debootstrap \
    || skip "could not install qemu-user-static, binfmt-support and debootstrap on the host"
fi

# ---------------------------------------------------------------- binfmt: aarch64 ELF files run through qemu
# Flag F (qemu opened at registration) lets it work inside the chroot without a copy of qemu there.
# In a container binfmt_misc needs mounting first.
binfmt() {
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    update-binfmts --enable qemu-aarch64 || true
  fi
  if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] && [ -f /usr/lib/binfmt.d/qemu-aarch64.conf ]; then
    cat /usr/lib/binfmt.d/qemu-aarch64.conf >/proc/sys/fs/binfmt_misc/register
  fi
  echo 1 >/proc/sys/fs/binfmt_misc/qemu-aarch64
  cat /proc/sys/fs/binfmt_misc/qemu-aarch64
}
phase binfmt binfmt || skip "cannot register qemu-aarch64 with binfmt_misc (mount or registration refused)"
grep -q '^flags:.*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 \
  || skip "qemu-aarch64 is registered with binfmt_misc without flag F (cannot run in a chroot)"

# ---------------------------------------------------------------- the arm64 root (reused when ready)
host_archive() {  # the host's own Debian archive, as its apt sources name it
  cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | grep -oE '^(URIs:|deb) +[^ ]+' \
    | awk '{ print $2 }' | grep -v security | head -1 || true
}
MIRROR=${MIRROR:-$(host_archive)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
network_trouble() {  # did this log fail for want of the network?
  grep -qiE "Failed getting release file|Couldn't download|Temporary failure resolving|Could not resolve|Connection (refused|timed out)|Network is unreachable|Failed to fetch" "$1"
}
mount_root() {  # proc, sys, dev; DNS; the host's CA bundle (a TLS-intercepting proxy's CA included)
  mount -t proc proc "$ROOT/proc"
  mount --rbind /sys "$ROOT/sys"; mount --make-rslave "$ROOT/sys"
  mount --rbind /dev "$ROOT/dev"; mount --make-rslave "$ROOT/dev"
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
  mkdir -p "$ROOT/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/host-ca-bundle.crt"
}
make_root() {
  debootstrap --arch=arm64 --foreign --variant=minbase "$SUITE" "$ROOT" "$MIRROR"
}

if [ "$FRESH_ROOT" = 1 ] || [ ! -f "$READY" ]; then
  if [ -e "$ROOT" ]; then
    unmount_root
    if awk -v r="$ROOT/" 'index($2, r) == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
      fail "cannot unmount everything under $ROOT; not removing it"
    fi
    rm -rf --one-file-system "$ROOT"
  fi
  if ! phase debootstrap-1-native make_root; then
    network_trouble "$LOGS/debootstrap-1-native.log" && skip "cannot reach the Debian archive $MIRROR (debootstrap)"
    fail "debootstrap stage 1 failed for $SUITE"
  fi
  if ! phase debootstrap-2-emulated env QEMU_CPU="$CPU" chroot "$ROOT" /debootstrap/debootstrap --second-stage; then
    grep -qi 'exec format error' "$LOGS/debootstrap-2-emulated.log" && skip "the kernel does not run aarch64 binaries through qemu"
    network_trouble "$LOGS/debootstrap-2-emulated.log" && skip "cannot reach the Debian archive (debootstrap)"
    fail "debootstrap stage 2 (emulated) failed"
  fi
  mount_root
  if ! phase apt-python3-emulated in_root sh -c \
      'apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 python3-venv ca-certificates'; then
    network_trouble "$LOGS/apt-python3-emulated.log" && skip "cannot reach the Debian archive (apt-get in the root)"
    fail "could not install python3 in the arm64 root"
  fi
  date -u +%FT%TZ >"$READY"
  ROOT_STATE="made now"
else
  ROOT_STATE="reused, made $(cat "$READY")"
  mount_root
fi

# A fake arm64 /proc/cpuinfo, as many CPUs as the host has. Needed: qemu-user 7.2 passes the host's x86
# /proc/cpuinfo through, and the cpuinfo library inside LiteRT/XNNPACK then segfaults (NULL+8) in
# Interpreter(...). Pi 4 = Cortex-A72 (no crypto extensions on the BCM2711), Pi 5 = Cortex-A76.
case $CPU in
  cortex-a76) part=0xd0b variant=0x4 rev=1 feat="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp" ;;
  cortex-a72) part=0xd08 variant=0x0 rev=3 feat="fp asimd evtstrm crc32 cpuid" ;;
  # Not qemu's default "max": its SME makes LiteRT pick kernels that give wrong int8-model outputs under
  # qemu 7.2 (max,sme=off is right). Other CPUs are let through with the Pi 4 cpuinfo.
  *) say "warning: CPU=$CPU is neither cortex-a72 (Pi 4) nor cortex-a76 (Pi 5)"
     part=0xd08 variant=0x0 rev=3 feat="fp asimd evtstrm crc32 cpuid" ;;
esac
: >"$WORK/cpuinfo"
for ((i = 0; i < $(getconf _NPROCESSORS_CONF); i++)); do
  printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %s\n\n' \
    "$i" "$feat" "$variant" "$part" "$rev" >>"$WORK/cpuinfo"
done
mount --bind "$WORK/cpuinfo" "$ROOT/proc/cpuinfo"

# It really is aarch64, with the CPU asked for: the guest's HWCAP (from qemu) has no SVE/SME.
hwcap_py='import struct
names = "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma lrcpc dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs sb paca pacg".split()
aux = dict(struct.iter_unpack("QQ", open("/proc/self/auxv", "rb").read()))
hw, hw2 = aux.get(16, 0), aux.get(26, 0)
print(" ".join(n for i, n in enumerate(names) if hw >> i & 1) + (" sme" if hw2 >> 23 & 1 else ""))'
GUEST_ARCH=$(in_root uname -m 2>&1) || skip "cannot run the root's aarch64 binaries: $GUEST_ARCH"
[ "$GUEST_ARCH" = aarch64 ] || fail "uname -m in the root says '$GUEST_ARCH', not aarch64"
HWCAP=$(in_root python3 -c "$hwcap_py") || fail "cannot run python3 in the root"
case " $HWCAP " in *" sve "* | *" sme "*) fail "the guest CPU has SVE/SME ($HWCAP): QEMU_CPU=$CPU did not take" ;; esac

# ---------------------------------------------------------------- the wheel, built natively from the checkout
native_python=$(dirname "$NATIVE_ECG")/python
[ -x "$native_python" ] || native_python=python3
build_wheel() {
  rm -rf "$WORK/src" "$WORK/dist"; mkdir -p "$WORK/src"
  if [ "$SOURCE" = head ]; then
    git -C "$PROJECT" archive HEAD | tar -x -C "$WORK/src"
  else  # tracked and untracked files that git does not ignore, as they are now
    (cd "$PROJECT" && git ls-files -z -co --exclude-standard \
      | while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done \
      | tar --null -T - -c) | tar -x -C "$WORK/src"
  fi
  "$native_python" -m pip wheel -q --no-deps -w "$WORK/dist" "$WORK/src"
  ls "$WORK"/dist/*.whl
}
phase wheel-native build_wheel || fail "could not build the wheel from $PROJECT ($SOURCE)"
WHEEL=$(ls "$WORK"/dist/*.whl)

# The wheel must carry the checkout's models (.tflite, .card.json, DEFAULT) and sample scans.
python3 - "$WHEEL" "$PROJECT" "$OUT/wheel.json" <<'EOF' || fail "the wheel does not carry the models and samples (see above)"
import json, os, sys, zipfile
wheel, project, out = sys.argv[1:]
names = zipfile.ZipFile(wheel).namelist()
def expected(folder, keep):
    root = os.path.join(project, folder)
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs if keep(f))
def packaged(folder, marker):
    # the wheel's copy of FOLDER: wherever MARKER (a path relative to the folder) lies in it
    prefixes = [n[: -len(marker)] for n in names if n.endswith("/" + marker) and n[: -len(marker)].endswith(folder + "/")]
    return (prefixes[0], sorted(n[len(prefixes[0]):] for n in names if n.startswith(prefixes[0]))) if prefixes else (None, [])
report, ok = {"file": os.path.basename(wheel), "bytes": os.path.getsize(wheel)}, True
models_want = expected("models", lambda f: f == "DEFAULT" or f.endswith((".tflite", ".card.json")))
samples_want = expected("samples", lambda f: f.lower().endswith((".jpg", ".jpeg", ".png")))
for folder, want, marker in (("models", models_want, "DEFAULT"), ("samples", samples_want, samples_want[0] if samples_want else "")):
    prefix, have = packaged(folder, marker) if marker else (None, [])
    missing = sorted(set(want) - set(have))
    report[folder] = {"in_wheel_at": prefix, "files": len(have), "missing": missing}
    print(f"  wheel {folder}: {len(have)} files at {prefix or '(none)'}" + (f"; MISSING {missing}" if missing else ""))
    ok = ok and not missing
json.dump(report, open(out, "w"), indent=2)
sys.exit(0 if ok else 1)
EOF

# Only the wheel and the input scans go into the root: no models/, no ECG_EDGE_MODEL.
rm -rf "$ROOT$PROBE"; mkdir -p "$ROOT$PROBE"
cp "$WHEEL" "$ROOT$PROBE/"
cp -r "$PROJECT/samples" "$ROOT$PROBE/samples"

# ---------------------------------------------------------------- fresh venv + install, emulated
phase venv-emulated in_root sh -c "rm -rf $VENV && python3 -m venv $VENV" || fail "python3 -m venv failed in the root"
phase pip-install-emulated in_root "$VENV/bin/pip" install "$PROBE/$(basename "$WHEEL")" \
  || fail "pip install of the wheel failed on arm64 $SUITE (a dependency without an aarch64 wheel?)"

versions_py='import json, platform, sys
from importlib.metadata import version, PackageNotFoundError
def v(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return None
print(json.dumps({"python": platform.python_version(), "machine": platform.machine(),
                  **{n: v(n) for n in ("numpy", "opencv-python-headless", "ai-edge-litert", "ecg-edge")}}))'
in_root "$VENV/bin/python" -c "$versions_py" >"$OUT/versions-arm64.json" || fail "cannot import metadata in the root venv"
"$native_python" -c "$versions_py" >"$OUT/versions-native.json" || true

# ---------------------------------------------------------------- classify: arm64 (emulated) and native
# The same relative paths on both sides (cwd = the probe folder), so the "file" fields match.
# shellcheck disable=SC2016  # $0/$@ are for the inner sh
in_probe() { in_root sh -c 'cd "$0" && exec "$@"' "$PROBE" "$@"; }
model_args() { [ "$1" = default ] && return 0; printf '%s\n' --model "$1"; }
# classify_on SIDE MODEL: all samples in one process; JSON lines to $OUT/SIDE-MODEL.jsonl, its exit status
# to $OUT/SIDE-MODEL.rc, stderr (the line naming the model and interpreter used) to the phase log.
classify_on() {
  local side=$1 model=$2 rc=0 margs=()
  [ "$model" = default ] || margs=(--model "$model")
  if [ "$side" = arm64 ]; then
    in_probe "$VENV/bin/ecg-edge" classify "${SAMPLES[@]}" --json "${margs[@]}" >"$OUT/$side-$model.jsonl" || rc=$?
  else
    (cd "$ROOT$PROBE" && env -u ECG_EDGE_MODEL -u ECG_EDGE_MODELS \
      "$NATIVE_ECG" classify "${SAMPLES[@]}" --json "${margs[@]}") >"$OUT/$side-$model.jsonl" || rc=$?
  fi
  echo "$rc" >"$OUT/$side-$model.rc"
  return "$rc"
}
phase models-list-emulated in_probe "$VENV/bin/ecg-edge" models || true
say "  installed models, as the arm64 install lists them:"; sed 's/^/  | /' "$LOGS/models-list-emulated.log"
for model in "${MODEL_LIST[@]}"; do
  for side in arm64 native; do
    # the last stderr line names the model and interpreter that ran ("8 classified, 0 failed · model ...")
    if phase "classify-$model-$side" classify_on "$side" "$model"; then
      tail -n 1 "$LOGS/classify-$model-$side.log" | tee "$OUT/$side-$model.said" | sed 's/^/      /'
    fi
  done
done

# ---------------------------------------------------------------- digitize: arm64 (emulated) and native
digitize_on() {
  local side=$1 rc=0
  if [ "$side" = arm64 ]; then
    in_probe "$VENV/bin/ecg-edge" digitize "${SAMPLES[@]}" --json >"$OUT/$side-digitize.jsonl" || rc=$?
  else
    (cd "$ROOT$PROBE" && "$NATIVE_ECG" digitize "${SAMPLES[@]}" --json) >"$OUT/$side-digitize.jsonl" || rc=$?
  fi
  echo "$rc" >"$OUT/$side-digitize.rc"
  return "$rc"
}
for side in arm64 native; do
  phase "digitize-$side" digitize_on "$side" || true
done

# ---------------------------------------------------------------- compare
PHASE=compare
say "comparison (same label/uncertain/reason/layout/error, max |dp| < $TOLERANCE):"
set +e
python3 - "$OUT" "$TOLERANCE" "${MODEL_LIST[@]}" <<'PY'
import json, os, sys
out, tol, models = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
FIELDS = ("label", "uncertain", "reason", "layout", "error")

def load(side, model):
    rows, path = {}, os.path.join(out, f"{side}-{model}")
    for line in open(path + ".jsonl"):
        if line.startswith("{"):
            row = json.loads(line)
            rows[row["file"]] = row
    said = open(path + ".said").read().strip() if os.path.exists(path + ".said") else None
    return rows, int(open(path + ".rc").read()), said

def max_dp(p, q):
    if p is None or q is None:
        return 0.0 if p is q else float("inf")
    if p.keys() != q.keys():
        return float("inf")
    return max((abs(p[c] - q[c]) for c in p), default=0.0)

result, all_ok, worst, n_files = {}, True, 0.0, 0
for model in models:
    (a, arc, asaid), (n, nrc, nsaid) = load("arm64", model), load("native", model)
    files, ok, mworst = [], arc == nrc and bool(a) and a.keys() == n.keys(), 0.0
    print(f"  model {model}: exit status arm64={arc} native={nrc}; rows arm64={len(a)} native={len(n)}")
    for f in sorted(set(a) | set(n)):
        x, y = a.get(f), n.get(f)
        if x is None or y is None:
            print(f"    DIFF  {f}: only in {'native' if x is None else 'arm64'}")
            files.append({"file": f, "ok": False, "arm64": x, "native": y})
            continue
        same = {k: x.get(k) == y.get(k) for k in FIELDS}
        d = max_dp(x.get("probabilities"), y.get("probabilities"))
        fok = all(same.values()) and d < tol
        mworst, ok = max(mworst, d), ok and fok
        diff = "" if all(same.values()) else "  differs in: " + ",".join(k for k, s in same.items() if not s)
        print(f"    {'ok  ' if fok else 'DIFF'}  {f}: arm64={x.get('label')} native={y.get('label')}"
              f" uncertain={x.get('uncertain')}/{y.get('uncertain')} max|dp|={d:.1e}{diff}")
        files.append({"file": f, "ok": fok, "max_abs_dp": d, "same_fields": same,
                      "arm64": {k: x.get(k) for k in FIELDS}, "native": {k: y.get(k) for k in FIELDS}})
    result[model] = {"ok": ok, "exit_arm64": arc, "exit_native": nrc, "said_arm64": asaid, "said_native": nsaid,
                     "worst_max_abs_dp": mworst, "files": files}
    worst, all_ok, n_files = max(worst, mworst), all_ok and ok, max(n_files, len(files))
    if arc or nrc or not a:
        ok = False
        print(f"  model {model}: RUN FAILED (exit status arm64={arc} native={nrc}; see the logs)")
    else:
        print(f"  model {model}: {'agrees' if ok else 'DISAGREES'} (worst max|dp| {mworst:.1e})")
json.dump({"tolerance": tol, "worst_max_abs_dp": worst, "ok": all_ok, "models": result},
          open(os.path.join(out, "compare.json"), "w"), indent=2)
print(f"summary: {len(models)} model(s) x {n_files} files; worst max|dp| {worst:.1e} (tolerance {tol:g});"
      f" {'AGREE' if all_ok else 'DISAGREE'}")
sys.exit(0 if all_ok else 1)
PY
compare_rc=$?
# The digitized signals and measurements (the boundary model runs on the same interpreter).
python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
def load(side):
    rc = int(open(os.path.join(out, f"{side}-digitize.rc")).read())
    rows = [json.loads(line) for line in open(os.path.join(out, f"{side}-digitize.jsonl")) if line.startswith("{")]
    return rc, {row["file"]: row for row in rows}
(arc, a), (nrc, n) = load("arm64"), load("native")
ok = arc == nrc == 0 and a.keys() == n.keys() and bool(a)
worst_mv, worst_measure = 0.0, 0.0
for f in sorted(a):
    x, y = a[f], n.get(f) or {}
    if (x["layout"], x["error"]) != (y.get("layout"), y.get("error")):
        ok = False
        print(f"    DIFF  {f}: layout/error {x['layout']}/{x['error']} vs {y.get('layout')}/{y.get('error')}")
        continue
    for lead, signal in x["leads"].items():
        for p, q in zip(signal["mv"], y["leads"][lead]["mv"]):
            if (p is None) != (q is None):
                worst_mv = float("inf")
            elif p is not None:
                worst_mv = max(worst_mv, abs(p - q))
    for key in ("heart_rate_bpm", "pr_ms", "qrs_ms", "qt_ms", "axis_deg"):
        p, q = x["measurements"][key], y["measurements"][key]
        if (p is None) != (q is None):
            worst_measure = float("inf")
        elif p is not None:
            worst_measure = max(worst_measure, abs(p - q))
ok = ok and worst_mv < 0.01 and worst_measure <= 2
print(f"  digitize: exit status arm64={arc} native={nrc}; {len(a)} files; worst |d mV| {worst_mv:.1e}, "
      f"worst measurement difference {worst_measure:g} (bpm, ms or degrees): {'AGREE' if ok else 'DISAGREE'}")
json.dump({"ok": ok, "worst_abs_mv": worst_mv, "worst_measurement": worst_measure},
          open(os.path.join(out, "compare-digitize.json"), "w"), indent=2)
sys.exit(0 if ok else 1)
PY
[ $? = 0 ] || compare_rc=1
set -e

# ---------------------------------------------------------------- report
root_kb=$(du -skx "$ROOT" | cut -f1); venv_kb=$(du -skx "$ROOT$VENV" | cut -f1)
printf '{"root_mib": %d, "venv_mib": %d}\n' $((root_kb / 1024)) $((venv_kb / 1024)) >"$OUT/disk.json"
say "root: $ROOT ($ROOT_STATE); uname -m: $GUEST_ARCH; guest HWCAP: $HWCAP"
say "disk: root $((root_kb / 1024)) MiB, of which venv $((venv_kb / 1024)) MiB"
python3 - "$OUT" <<'PY'
import json, sys
for side in ("arm64", "native"):
    try:
        v = json.load(open(f"{sys.argv[1]}/versions-{side}.json"))
    except (OSError, ValueError):
        continue
    print(f"{side + ':':8}", "  ".join(f"{k} {val}" for k, val in v.items()))
PY
awk -F '\t' '{ printf "  %-42s %6.1f s\n", $1, $2; t += $2 } END { printf "  %-42s %6.1f s\n", "all phases", t }' \
  "$OUT/timings.tsv" | { say "timings:"; cat; }
[ "$compare_rc" = 0 ] || fail "arm64 and native disagree, or a run failed (see above and $OUT/compare.json)"
STATUS=pass
