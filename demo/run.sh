#!/usr/bin/env bash
# The offline demo: vpc-router against moto (an AWS emulator) on 127.0.0.1.
# Installs moto into .demo/venv, starts moto_server, builds a VPC with three
# route tables and two router instances, then runs the CLI and checks each
# result, both by exit code and by reading the route tables back with boto3.
# Stops everything it started. No traffic leaves 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
state=$root/.demo
mkdir -p "$state"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "moto (AWS emulator) in $state/venv"
if ! "$state/venv/bin/python" -c 'import moto, boto3' 2>/dev/null; then
  python3 -m venv "$state/venv"
  "$state/venv/bin/pip" install --quiet "moto[server]==5.2.5"
fi
"$state/venv/bin/python" -c 'import moto; print("moto", moto.__version__)'

step "vpc-router"
if [ -n "${VPC_ROUTER_BIN:-}" ]; then
  bin=$VPC_ROUTER_BIN
else
  cargo build --release --quiet
  bin=$root/target/release/vpc-router
fi
"$bin" --version

port=$("$state/venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
step "moto_server on $url (log: $state/moto.log)"
"$state/venv/bin/moto_server" -H 127.0.0.1 -p "$port" > "$state/moto.log" 2>&1 &
moto_pid=$!
cleanup() { kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; }
trap cleanup EXIT INT TERM
for _ in $(seq 1 100); do
  curl -fs "$url/moto-api/" >/dev/null 2>&1 && break
  sleep 0.1
done

# Only the emulator: fake keys, no instance metadata, no profiles.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_EC2 || true
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true
export AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_CONFIG_FILE=/dev/null

step "a VPC with three route tables and two routers (boto3)"
scenario=$("$state/venv/bin/python" demo/setup_vpc.py create "$url")
field() { "$state/venv/bin/python" -c "import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))" "$scenario" "$1"; }
vpc=$(field 'd["vpc"]')
a_eni=$(field 'd["routers"]["a"]["eni"]'); b_eni=$(field 'd["routers"]["b"]["eni"]')
echo "VPC $vpc, route tables $(field '" ".join(d["tables"])')"
echo "router A: 10.33.20.142 $(field 'd["routers"]["a"]["instance"]') $a_eni"
echo "router B: 10.33.30.22  $(field 'd["routers"]["b"]["instance"]') $b_eni"

failures=0
# Runs vpc-router, shows the command and its exit code, and checks the code.
vr() {
  local want=$1; shift
  echo "+ vpc-router $*"
  set +e
  "$bin" -r us-east-1 -v "$vpc" --endpoint-url "$url" "$@"
  local code=$?
  set -e
  if [ "$code" = "$want" ]; then
    echo "  exit $code (expected)"
  else
    echo "  exit $code, expected $want: FAILED"
    failures=$((failures + 1))
  fi
}
check() {
  "$state/venv/bin/python" demo/setup_vpc.py check "$url" "$vpc" "$1" "$2" || failures=$((failures + 1))
}

step "add: create the route in every table"
vr 0 -c add --CIDR 10.55.0.0/16 --ip 10.33.20.142
check 10.55.0.0/16 "$a_eni"

step "add again: idempotent, nothing to change"
vr 0 -c add --CIDR 10.55.0.0/16 --ip 10.33.20.142

step "add via router B: replaced everywhere"
vr 0 -c add --CIDR 10.55.0.0/16 --ip 10.33.30.22
check 10.55.0.0/16 "$b_eni"

step "show"
vr 0 -c show --CIDR 10.55.0.0/16
vr 0 -c show --CIDR 10.55.0.0/16 --output json

# No --dry-run here: moto 5.2.5 ignores DryRun=true on CreateRoute,
# ReplaceRoute and DeleteRoute and makes the change. vpc-router notices (a
# success answer to a dry run) and reports the table as
# changed_despite_dry_run with exit 3; real EC2 answers DryRunOperation.
# Dry runs are tested against recorded EC2 answers in tests/cli.rs.

step "the internet gateway route is not ours: refused (exit 5)"
vr 5 -c del --CIDR 0.0.0.0/0

step "del, then show: the route is gone (exit 1)"
vr 0 -c del --CIDR 10.55.0.0/16
check 10.55.0.0/16 absent
vr 1 -c show --CIDR 10.55.0.0/16

step "bad input: a CIDR with host bits set (exit 2)"
vr 2 -c add --CIDR 10.55.1.0/16 --ip 10.33.20.142

# The daemon part (vpc-router -d and the three curl calls of the API) is
# added with the daemon itself.

step "summary"
if [ "$failures" -eq 0 ]; then
  echo "demo ok: every command answered as expected and the route tables agree"
else
  echo "demo FAILED: $failures unexpected result(s)"
  exit 1
fi
