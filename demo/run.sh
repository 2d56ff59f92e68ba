#!/usr/bin/env bash
# The offline demo (make demo): vpc-router against moto, an AWS emulator, on
# 127.0.0.1. Installs moto into .demo/venv, builds vpc-router (or uses
# $VPC_ROUTER_BIN), starts moto_server on a free port, builds a VPC with three
# route tables and two router instances with boto3, then runs add/show/del,
# then the daemon and its API with curl, then desired-state routing (plan,
# apply, a -m configfile daemon picking up an edit of its spec file), then a
# failover between two routers whose health endpoints are loopback
# listeners. It checks every exit code and HTTP status and, with boto3, the
# route tables themselves. Stops moto, the daemons and the listeners however
# it ends. No traffic leaves the loopback addresses (127.0.0.0/8).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
state=$root/.demo
venv=$state/venv
py=$venv/bin/python
MOTO_VERSION=5.2.5 # pinned: the expected results below are moto 5.2.5's
mkdir -p "$state"

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
die() {
  printf '\ndemo FAILED: %s\n' "$*" >&2
  [ -s "$state/moto.log" ] && printf '(moto log: %s)\n' "$state/moto.log" >&2
  exit 1
}

# --- moto, in its own virtualenv -------------------------------------------
step "moto $MOTO_VERSION (AWS emulator) in .demo/venv"
venv_ok() {
  "$py" -c "import sys, boto3, moto.server; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null
}
if venv_ok; then
  echo "reusing .demo/venv"
else
  command -v python3 >/dev/null || die "python3 not found"
  python3 -m venv --clear "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$venv/bin/pip" install --quiet "moto[server]==$MOTO_VERSION" || die "pip install moto[server]==$MOTO_VERSION failed"
  venv_ok || die "moto $MOTO_VERSION or boto3 does not import in .demo/venv"
fi
"$py" -c 'import boto3, moto; print("moto", moto.__version__, "/ boto3", boto3.__version__)'

# --- vpc-router --------------------------------------------------------------
step "vpc-router"
if [ -n "${VPC_ROUTER_BIN:-}" ]; then
  bin=$VPC_ROUTER_BIN
  echo "using VPC_ROUTER_BIN=$bin"
else
  cargo build --release || die "cargo build --release failed"
  target_dir=$(cargo metadata --format-version 1 --no-deps |
    "$py" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  bin=$target_dir/release/vpc-router
fi
[ -x "$bin" ] || die "$bin is not an executable"
"$bin" --version || die "$bin --version failed"

# --- Only the emulator from here on ------------------------------------------
# Fake keys, no instance metadata, no profile or config file, no endpoint or
# CA overrides, no proxy: boto3 and vpc-router talk to 127.0.0.1 only.
while read -r var; do
  case $var in
    AWS_* | http_proxy | HTTP_PROXY | https_proxy | HTTPS_PROXY | all_proxy | ALL_PROXY) unset "$var" ;;
  esac
done < <(compgen -e)
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

# --- moto_server on a free loopback port -------------------------------------
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
step "moto_server on $url (log: .demo/moto.log)"
moto_pid=
stop_moto() {
  [ -n "$moto_pid" ] || return 0
  # Its own process group (see below): signal the group, then the pid.
  kill -TERM -- "-$moto_pid" 2>/dev/null || kill -TERM "$moto_pid" 2>/dev/null || true
  local _ st
  for _ in $(seq 1 50); do
    # Its state letter: none once gone, Z once it has exited (not yet reaped).
    st=$(sed -n 's/^[0-9]* (.*) \(.\) .*/\1/p' "/proc/$moto_pid/stat" 2>/dev/null || true)
    if [ -z "$st" ] || [ "$st" = Z ]; then break; fi
    sleep 0.1
  done
  kill -KILL -- "-$moto_pid" 2>/dev/null || kill -KILL "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
  moto_pid=
}
daemon_pid=
helpers=() # health-endpoint listeners and boto3 pollers
stop_all() {
  if [ -n "$daemon_pid" ]; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  local pid
  for pid in "${helpers[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  stop_moto
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# In a process group of its own, so that everything it might start is stopped
# with it (and a Ctrl-C reaches this script, whose trap stops it).
"$py" -c 'import os, sys; os.setpgid(0, 0); os.execv(sys.argv[1], sys.argv[1:])' \
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$state/moto.log" 2>&1 &
moto_pid=$!
"$py" demo/setup_vpc.py wait "$url" "$moto_pid" || die "moto_server did not start"
echo "moto_server answers (pid $moto_pid)"

# --- The VPC ------------------------------------------------------------------
step "a VPC with three route tables and two routers (boto3)"
scenario=$("$py" demo/setup_vpc.py create "$url") || die "could not build the VPC in moto"
declare -A S
while IFS='=' read -r key value; do S[$key]=$value; done <<<"$scenario"
vpc=${S[vpc]}
main=${S[main]}
ip_a=${S[ip_a]} eni_a=${S[eni_a]}
ip_b=${S[ip_b]} eni_b=${S[eni_b]}
tables="$main,${S[table_a]},${S[table_b]}"
echo "VPC            $vpc (10.33.0.0/16)"
echo "route tables   $main (main; 0.0.0.0/0 -> ${S[igw]})"
echo "               ${S[table_a]} (${S[subnet_a]}, 10.33.20.0/24)"
echo "               ${S[table_b]} (${S[subnet_b]}, 10.33.30.0/24)"
echo "router A       $ip_a  ${S[instance_a]}  $eni_a"
echo "router B       $ip_b  ${S[instance_b]}  $eni_b"

# --- vpc-router against it ----------------------------------------------------
summary=()
out=$state/out.txt err=$state/err.txt
# vr WANT ARGS...: prints the command, runs it against moto, prints its output
# and exit code, and dies unless the exit code is WANT. Its stdout and stderr
# stay in $out and $err for the checks that follow.
vr() {
  local want=$1 code=0
  shift
  local cmd=(-r us-east-1 -v "$vpc" --endpoint-url "$url" "$@")
  printf '+ vpc-router %s\n' "${cmd[*]}"
  "$bin" "${cmd[@]}" >"$out" 2>"$err" || code=$?
  cat "$out"
  cat "$err" >&2
  if [ "$code" != "$want" ]; then
    die "vpc-router ${*} exited $code, expected $want"
  fi
  echo "  exit $code (expected)"
  summary+=("exit $code  vpc-router $*")
}
routes() { "$py" demo/setup_vpc.py routes "$url" "$vpc" "$@" || die "the route tables are not as expected"; }

step "add via router A: created in all three tables"
vr 0 -c add --CIDR 10.55.0.0/16 --ip "$ip_a"
routes 10.55.0.0/16 "$eni_a"

step "add again: already right everywhere, no change (--verbose shows each EC2 call)"
vr 0 -c add --CIDR 10.55.0.0/16 --ip "$ip_a" --verbose
grep -q 'DescribeRouteTables' "$err" || die "--verbose logged no DescribeRouteTables call"
if grep -Eq 'CreateRoute|ReplaceRoute|DeleteRoute' "$err"; then
  die "the repeated add made a mutating call"
fi
echo "  check ok: no CreateRoute/ReplaceRoute call"
routes 10.55.0.0/16 "$eni_a"

step "add via router B: replaced in all three tables"
vr 0 -c add --CIDR 10.55.0.0/16 --ip "$ip_b"
routes 10.55.0.0/16 "$eni_b"

step "show"
vr 0 -c show --CIDR 10.55.0.0/16
vr 0 -c show --CIDR 10.55.0.0/16 --output json
"$py" demo/setup_vpc.py json "$out" 10.55.0.0/16 "$eni_b" "$tables" || die "the JSON report is not as expected"

step "add --dry-run via router A"
# Real EC2 answers a DryRun=true ReplaceRoute with 412 DryRunOperation, and
# vpc-router reports 'would replace', exit 0. moto 5.2.5 ignores DryRun on
# CreateRoute/ReplaceRoute/DeleteRoute (moto/ec2/responses/route_tables.py
# never checks it): it makes the change and answers 200. vpc-router notices
# and reports 'changed despite dry run', exit 3; the route now is router A's.
vr 3 -c add --CIDR 10.55.0.0/16 --ip "$ip_a" --dry-run
routes 10.55.0.0/16 "$eni_a"
echo "  note: exit 3 is moto's doing (it ignores DryRun); against EC2 this is 'would replace', exit 0"

step "del of the internet gateway's route: not ours, refused (exit 5)"
vr 5 -c del --CIDR 0.0.0.0/0
routes 0.0.0.0/0 "${S[igw]}" "$main"

step "del: deleted from all three tables"
vr 0 -c del --CIDR 10.55.0.0/16
routes 10.55.0.0/16 absent

step "show again: missing everywhere (exit 1)"
vr 1 -c show --CIDR 10.55.0.0/16

step "bad input (exit 2)"
vr 2 -c add --CIDR 10.55.1.0/16 --ip "$ip_a"
vr 2 -c add --CIDR 10.55.0.0/16 --ip 10.33.99.99
routes 10.55.0.0/16 absent

# --- The daemon: the same three operations over its HTTP API -----------------
command -v curl >/dev/null || die "curl not found (Debian: apt-get install curl)"
dport=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
api=http://127.0.0.1:$dport
step "the daemon on $api (log: .demo/daemon.log)"
printf '+ vpc-router %s\n' "-r us-east-1 -v $vpc --endpoint-url $url -d -p $dport"
"$bin" -r us-east-1 -v "$vpc" --endpoint-url "$url" -d -p "$dport" 2>"$state/daemon.log" &
daemon_pid=$!
for _ in $(seq 1 100); do
  curl -s --noproxy '*' -o /dev/null "$api/healthz" && break
  kill -0 "$daemon_pid" 2>/dev/null || die "the daemon exited: $(cat "$state/daemon.log")"
  sleep 0.1
done
curl -s --noproxy '*' -o /dev/null "$api/healthz" || die "the daemon does not answer on $api"
echo "  answers on $api (pid $daemon_pid)"
# api WANT CURL-ARGS...: prints the curl command, runs it, prints the answer and
# its status, and dies unless the status is WANT.
api() {
  local want=$1 code
  shift
  printf '+ curl %s\n' "$*"
  code=$(curl -s --noproxy '*' -o "$out" -w '%{http_code}' "$@") || die "curl $* failed"
  cat "$out"
  [ "$code" = "$want" ] || die "curl $* answered $code, expected $want"
  echo "  HTTP $code (expected)"
  summary+=("HTTP $code  curl $*")
}

step "POST /route: created in all three tables (201)"
api 201 -X POST -H "Content-type:application/json" "$api/route" -d "{\"dst_cidr\": \"10.55.0.0/16\", \"router_ip\": \"$ip_a\"}"
routes 10.55.0.0/16 "$eni_a"

step "GET /route: found in all three tables (200)"
api 200 "$api/route?dst_cidr=10.55.0.0/16"

step "DELETE /route: deleted from all three tables (200)"
api 200 -X DELETE "$api/route?dst_cidr=10.55.0.0/16"
routes 10.55.0.0/16 absent

step "GET /route again: missing (404); a bad CIDR (400)"
api 404 "$api/route?dst_cidr=10.55.0.0/16"
api 400 "$api/route?dst_cidr=10.55.1.0/16"

step "GET /metrics (an excerpt)"
curl -s --noproxy '*' "$api/metrics" | grep -E '^vpc_router_(route_changes_total|http_requests_total\{route="/route")' || die "no metrics"

step "SIGTERM: the daemon finishes and exits 0"
kill -TERM "$daemon_pid"
code=0
wait "$daemon_pid" || code=$?
daemon_pid=
[ "$code" = 0 ] || die "the daemon exited $code after SIGTERM"
tail -n 4 "$state/daemon.log"
echo "  exit 0 (expected)"

# --- Desired-state routing: plan and apply a spec file ----------------------
step "a route spec: which routers may carry each CIDR, in priority order"
spec=$state/spec.json
cat >"$spec" <<EOF
{
  "10.56.0.0/16": ["$ip_a"],
  "10.57.0.0/16": ["$ip_b", "$ip_a"]
}
EOF
cat "$spec"
rm -rf "$state/apply-state"

step "plan: the changes to make (exit 1: not in sync); it changes nothing"
vr 1 plan -f "$spec"
routes 10.56.0.0/16 absent

step "apply: makes them, and records the CIDRs it manages in --state-dir"
vr 0 apply -f "$spec" --state-dir "$state/apply-state"
routes 10.56.0.0/16 "$eni_a"
routes 10.57.0.0/16 "$eni_b"

step "plan again: in sync (exit 0)"
vr 0 plan -f "$spec" --state-dir "$state/apply-state"

step "10.57.0.0/16 leaves the spec: apply deletes its routes, which it manages"
echo "{\"10.56.0.0/16\": [\"$ip_a\"]}" >"$spec"
cat "$spec"
vr 0 apply -f "$spec" --state-dir "$state/apply-state"
routes 10.57.0.0/16 absent
routes 10.56.0.0/16 "$eni_a"

# start_daemon LOG ARGS...: starts the daemon on a free loopback port with
# ARGS, logging with timestamps to LOG; sets $daemon_pid and $api.
start_daemon() {
  local log=$1 port
  shift
  port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  api=http://127.0.0.1:$port
  : >"$log"
  printf '+ vpc-router %s\n' "-r us-east-1 -v $vpc --endpoint-url $url -d -p $port -l ${log#"$root"/} $*"
  "$bin" -r us-east-1 -v "$vpc" --endpoint-url "$url" -d -p "$port" -l "$log" "$@" &
  daemon_pid=$!
  for _ in $(seq 1 100); do
    curl -s --noproxy '*' -o /dev/null "$api/healthz" && break
    kill -0 "$daemon_pid" 2>/dev/null || die "the daemon exited: $(cat "$log")"
    sleep 0.1
  done
  curl -s --noproxy '*' -o /dev/null "$api/healthz" || die "the daemon does not answer on $api"
  echo "  answers on $api (pid $daemon_pid)"
}
stop_daemon() {
  kill -TERM "$daemon_pid"
  local code=0
  wait "$daemon_pid" || code=$?
  daemon_pid=
  [ "$code" = 0 ] || die "the daemon exited $code after SIGTERM"
  echo "  SIGTERM: exit 0 (expected)"
}
# The time of day in UTC, as the daemon's log writes it.
now() { date -u +%T.%3N; }
# wait_routes ENI CIDR...: waits (up to 20 s) until every table routes each
# CIDR to ENI, polling with boto3.
wait_routes() {
  "$py" demo/setup_vpc.py wait-routes "$url" "$vpc" "$1" 20 "${@:2}" || die "${*:2} did not move to $1"
}
# timed ENI "CIDR..." WHAT COMMAND...: starts a boto3 poller of the CIDRs
# and waits until it polls; notes the time, prints it with WHAT and runs
# COMMAND; then waits (up to 20 s) for the poller to see every table route
# each CIDR to ENI, which it prints with the time it took.
timed() {
  local eni=$1 cidrs=$2 what=$3 poller
  shift 3
  rm -f "$state/ready" "$state/since"
  # shellcheck disable=SC2086 # $cidrs: several words
  "$py" demo/setup_vpc.py wait-routes --ready "$state/ready" --since "$state/since" \
    "$url" "$vpc" "$eni" 20 $cidrs &
  poller=$!
  helpers+=("$poller")
  for _ in $(seq 1 400); do
    [ -e "$state/ready" ] && break
    kill -0 "$poller" 2>/dev/null || break
    sleep 0.05
  done
  [ -e "$state/ready" ] || die "the boto3 poller did not start"
  date +%s.%N >"$state/since"
  echo "  $(now) $what"
  "$@"
  wait "$poller" || die "$cidrs did not all move to $eni"
}

# --- The daemon keeps a spec file true: -m configfile ------------------------
step "the daemon with -m configfile: it applies its spec file, and every edit"
dspec=$state/daemon-spec.json
echo "{\"10.58.0.0/16\": [\"$ip_a\"]}" >"$dspec"
cat "$dspec"
rm -rf "$state/daemon-state"
start_daemon "$state/configfile.log" -m configfile -f "$dspec" \
  --state-dir "$state/daemon-state" --route-recheck-interval 0
wait_routes "$eni_a" 10.58.0.0/16

step "edit the spec file: 10.58.0.0/16 via router B now, and a new 10.59.0.0/16"
echo "{\"10.58.0.0/16\": [\"$ip_b\"], \"10.59.0.0/16\": [\"$ip_b\"]}" >"$dspec.new"
cat "$dspec.new"
# The file is watched every 250 ms.
timed "$eni_b" "10.58.0.0/16 10.59.0.0/16" "spec file replaced" mv "$dspec.new" "$dspec"
echo "  the daemon's log of it:"
grep -E '10\.5[89]\.0\.0/16' "$state/configfile.log" | sed 's/^/    /'
summary+=("ok      -m configfile: an edit of the spec file applied")
stop_daemon

# --- Failover: health checks against loopback listeners ----------------------
step "failover: routers A and B, health-checked over TCP"
# In a VPC the checks go to the routers themselves; here each router's
# health endpoint is a TCP listener on a loopback address of its own, named
# in the spec as the host's "check" address.
listen_pid= listen_addr=
listen() {
  local port
  port=$("$py" -c 'import socket, sys; s = socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "$1")
  "$py" demo/setup_vpc.py listen "$1" "$port" &
  helpers+=($!)
  listen_pid=$! listen_addr=$1:$port
  listening "$1" "$port"
}
# listening IP PORT: waits (up to 5 s) until IP:PORT accepts connections.
listening() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
    sleep 0.05
  done
  die "nothing listens on $1:$2"
}
listen 127.0.0.2
pid_a=$listen_pid check_a=$listen_addr
listen 127.0.0.3
check_b=$listen_addr
echo "  router A ($ip_a): health endpoint $check_a (pid $pid_a)"
echo "  router B ($ip_b): health endpoint $check_b"
fspec=$state/failover-spec.json
hosts="[{\"ip\": \"$ip_a\", \"check\": \"$check_a\"}, {\"ip\": \"$ip_b\", \"check\": \"$check_b\"}]"
echo "{\"10.60.0.0/16\": $hosts, \"10.61.0.0/16\": $hosts}" >"$fspec"
cat "$fspec"
rm -rf "$state/failover-state"
# A check every 0.2 s; 3 failed checks in a row fail a router (detection in
# about 0.5 s), 2 good ones make it healthy.
start_daemon "$state/failover.log" -m configfile -f "$fspec" --state-dir "$state/failover-state" \
  --route-recheck-interval 0 --health tcp --check-interval 0.2 --check-timeout 0.15 --fall 3 --rise 2
wait_routes "$eni_a" 10.60.0.0/16 10.61.0.0/16
for _ in $(seq 1 100); do
  curl -s --noproxy '*' -o "$out" "$api/status"
  "$py" demo/setup_vpc.py healthy "$out" 2 && break
  sleep 0.1
done
"$py" demo/setup_vpc.py healthy "$out" 2 || die "the routers are not both healthy: $(cat "$out")"
"$py" demo/setup_vpc.py hosts "$out" || die "no hosts in /status"

step "before: 10.60.0.0/16 and 10.61.0.0/16 via router A"
echo "  $(now)"
vr 0 -c show --CIDR 10.60.0.0/16

step "router A dies (its health endpoint stops answering): its routes move to B"
stop_a() {
  kill -TERM "$pid_a"
  wait "$pid_a" 2>/dev/null || true
}
timed "$eni_b" "10.60.0.0/16 10.61.0.0/16" "router A's health endpoint stopped (kill $pid_a)" stop_a
echo "  the daemon's log (its own timestamps, UTC):"
grep -E 'healthy -> failed|failover ' "$state/failover.log" | sed 's/^/    /'
grep -q 'failover 10.60.0.0/16' "$state/failover.log" || die "no failover line in the daemon's log"

step "after: both via router B"
echo "  $(now)"
vr 0 -c show --CIDR 10.60.0.0/16
curl -s --noproxy '*' -o "$out" "$api/status"
"$py" demo/setup_vpc.py hosts "$out" || die "no hosts in /status"
curl -s --noproxy '*' "$api/metrics" | grep -E '^vpc_router_(failovers_total|host_up)' || die "no failover metrics"
summary+=("ok      failover: router A's routes moved to B")

step "router A comes back: healthy again, but B keeps the routes (no failback by default)"
"$py" demo/setup_vpc.py listen 127.0.0.2 "${check_a#*:}" &
helpers+=($!)
listening 127.0.0.2 "${check_a#*:}"
echo "  $(now) router A's health endpoint listening again on $check_a"
for _ in $(seq 1 100); do
  curl -s --noproxy '*' -o "$out" "$api/status"
  "$py" demo/setup_vpc.py healthy "$out" 2 && break
  sleep 0.1
done
"$py" demo/setup_vpc.py healthy "$out" 2 || die "router A is not healthy again: $(cat "$out")"
echo "  $(now)"
"$py" demo/setup_vpc.py hosts "$out" || die "no hosts in /status"
grep -F "router $ip_a: failed -> healthy" "$state/failover.log" | tail -n 1 | sed 's/^/    /'
routes 10.60.0.0/16 "$eni_b"
routes 10.61.0.0/16 "$eni_b"
stop_daemon

step "summary"
printf '  %s\n' "${summary[@]}"
echo "demo ok: ${#summary[@]} CLI runs, API calls and daemon scenarios against moto $MOTO_VERSION, every exit code and HTTP status as expected, route tables checked with boto3"
