"""The demo's boto3 side: waits for moto, builds the demo VPC, checks routes.

  setup_vpc.py wait URL PID          waits until moto_server (PID) answers at URL
  setup_vpc.py create URL            builds the VPC; prints key=value lines
  setup_vpc.py routes URL VPC CIDR WANT [RTB...]
      exits 1 unless every route table of VPC (or each RTB given) routes CIDR
      to WANT: an ENI or gateway ID, or 'absent' for no route at CIDR
  setup_vpc.py json FILE CIDR ENI TABLES
      exits 1 unless FILE is vpc-router's `show --output json` report saying
      CIDR is found, pointing at ENI, in each of TABLES (comma-separated)
  setup_vpc.py wait-routes [--ready FILE] [--since FILE] URL VPC WANT SECONDS CIDR...
      polls (every 20 ms) until every route table of VPC routes each CIDR to
      WANT; prints the time (UTC) it saw that, and exits 1 if it did not
      within SECONDS. --ready: creates FILE once polling has begun; --since:
      FILE holds the epoch seconds of the event, and the wait is counted
      from there
  setup_vpc.py healthy FILE COUNT
      exits 0 if the `GET /status` answer in FILE has a pass done and COUNT
      routers healthy
  setup_vpc.py listen IP PORT
      a router's health endpoint: accepts TCP connections on IP:PORT (a
      loopback address) and closes them, until killed
  setup_vpc.py hosts FILE
      prints each router's health from a `GET /status` answer in FILE

Only the moto server at URL (on 127.0.0.1) is contacted: the caller (run.sh)
has set fake credentials and removed every proxy and profile variable.
"""

import datetime
import json
import os
import socket
import sys
import time
import urllib.request

REGION = "us-east-1"
VPC_CIDR = "10.33.0.0/16"
SUBNETS = {"a": "10.33.20.0/24", "b": "10.33.30.0/24"}
ROUTERS = {"a": "10.33.20.142", "b": "10.33.30.22"}


def fail(msg):
    print(f"  check FAILED: {msg}", flush=True)
    sys.exit(1)


def loopback_only(url):
    if not url.startswith("http://127.0.0.1:"):
        sys.exit(f"setup_vpc.py: refusing {url}: the demo talks to 127.0.0.1 only")
    return url


def client(url):
    import boto3  # here, so that `listen` starts at once

    return boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=loopback_only(url),
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def wait(url, pid, timeout=60.0):
    url = loopback_only(url)
    # No proxy, whatever the environment says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            sys.exit("moto_server exited before answering")
        try:
            with opener.open(f"{url}/moto-api/", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"moto_server did not answer at {url} within {timeout:.0f} s")


def create(url):
    ec2 = client(url)
    vpc = ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
    main = ec2.describe_route_tables(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc]},
            {"Name": "association.main", "Values": ["true"]},
        ]
    )["RouteTables"][0]["RouteTableId"]
    out = {"vpc": vpc, "main": main}
    for name, cidr in SUBNETS.items():
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr)["Subnet"]["SubnetId"]
        table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
        out[f"subnet_{name}"] = subnet
        out[f"table_{name}"] = table
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    ec2.create_route(RouteTableId=main, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    out["igw"] = igw
    # Any image moto knows; it starts nothing.
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    for name, ip in ROUTERS.items():
        inst = ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.micro",
            SubnetId=out[f"subnet_{name}"],
            PrivateIpAddress=ip,
        )["Instances"][0]
        eni = inst["NetworkInterfaces"][0]["NetworkInterfaceId"]
        # Routers forward packets addressed to others.
        ec2.modify_network_interface_attribute(
            NetworkInterfaceId=eni, SourceDestCheck={"Value": False}
        )
        out[f"ip_{name}"] = ip
        out[f"instance_{name}"] = inst["InstanceId"]
        out[f"eni_{name}"] = eni
    for key, value in out.items():
        print(f"{key}={value}")


def target(route):
    for key in ("NetworkInterfaceId", "GatewayId", "InstanceId", "NatGatewayId"):
        if route.get(key):
            return route[key]
    return "?"


def describe(url, vpc, ec2=None):
    return (ec2 or client(url)).describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}]
    )["RouteTables"]


def targets(tables, cidr):
    out = {}
    for t in tables:
        found = [r for r in t["Routes"] if r.get("DestinationCidrBlock") == cidr]
        out[t["RouteTableId"]] = target(found[0]) if found else "absent"
    return out


def now():
    """The time of day in UTC, as the daemon's log writes it."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def wait_routes(url, vpc, want, seconds, cidrs, ready=None, since=None):
    """Polls until every table routes each CIDR to WANT. With `ready`, the
    file is created once the first answer is in (the caller acts after
    that); with `since`, the elapsed time is counted from the epoch seconds
    the caller wrote there when it acted."""
    ec2 = client(url)
    deadline = time.monotonic() + float(seconds)
    first = True
    while True:
        tables = describe(url, vpc, ec2)
        got = {cidr: targets(tables, cidr) for cidr in cidrs}
        if first and ready:
            open(ready, "w").close()
        first = False
        if all(got[c] and all(t == want for t in got[c].values()) for c in cidrs):
            seen = time.time()
            where = f"all {len(tables)} route tables"
            after = ""
            if since and os.path.exists(since):
                with open(since) as f:
                    after = f", {(seen - float(f.read())) * 1000:.0f} ms after that"
            print(f"  {now()} check ok (boto3): {' and '.join(cidrs)} -> {want} in {where}{after}")
            return
        if time.monotonic() > deadline:
            fail(f"not {want} everywhere after {seconds} s: {got}")
        time.sleep(0.02)


def healthy(path, count):
    """Exits 0 once a `GET /status` answer in FILE has a pass behind it and
    COUNT routers healthy."""
    try:
        with open(path) as f:
            doc = json.load(f)
        rec = doc["reconcile"]
        ok = rec.get("last_pass") and sum(h["state"] == "healthy" for h in rec["hosts"]) == int(count)
    except (OSError, ValueError, KeyError, TypeError):
        ok = False
    sys.exit(0 if ok else 1)


def listen(ip, port):
    if not ip.startswith("127."):
        sys.exit(f"setup_vpc.py: refusing {ip}: the demo listens on loopback only")
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, int(port)))
    s.listen(64)
    while True:
        conn, _ = s.accept()
        conn.close()


def hosts(path):
    with open(path) as f:
        doc = json.load(f)
    for h in doc["reconcile"]["hosts"]:
        print(f"  router {h['ip']:<14} checked at {h.get('check', h['ip']):<20} {h['state']}")


def routes(url, vpc, cidr, want, *only):
    tables = describe(url, vpc)
    if only:
        tables = [t for t in tables if t["RouteTableId"] in only]
        if len(tables) != len(only):
            fail(f"route tables {', '.join(only)} are not all in {vpc}")
    bad = []
    for t in tables:
        found = [r for r in t["Routes"] if r.get("DestinationCidrBlock") == cidr]
        got = target(found[0]) if found else "absent"
        if got != want:
            bad.append(f"{t['RouteTableId']} has {got}")
    if not tables:
        fail(f"no route table in {vpc}")
    if bad:
        fail(f"{cidr} should be {want} in every table of {vpc}: " + ", ".join(bad))
    where = ", ".join(only) if only else f"all {len(tables)} route tables"
    print(f"  check ok (boto3): {cidr} -> {want} in {where}")


def check_json(path, cidr, eni, tables):
    try:
        with open(path) as f:
            doc = json.load(f)
    except ValueError as e:
        fail(f"show --output json is not JSON: {e}")
    want = set(tables.split(","))
    got = {t.get("route_table"): t for t in doc.get("route_tables", [])}
    if doc.get("command") != "show" or doc.get("cidr") != cidr:
        fail(f"JSON report is for {doc.get('command')} {doc.get('cidr')}, not show {cidr}")
    if set(got) != want:
        fail(f"JSON report covers {sorted(got)}, expected {sorted(want)}")
    for rtb, t in sorted(got.items()):
        route = t.get("route") or {}
        if t.get("result") != "found" or route.get("network_interface") != eni:
            fail(f"JSON report: {rtb} is {t.get('result')} {route.get('network_interface')}, expected found {eni}")
    print(f"  check ok (JSON): {cidr} found -> {eni} in all {len(got)} route tables")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "wait":
        wait(*args)
    elif cmd == "create":
        create(*args)
    elif cmd == "routes":
        routes(*args)
    elif cmd == "json":
        check_json(*args)
    elif cmd == "wait-routes":
        opts = {}
        while args and args[0].startswith("--"):
            opts[args[0][2:]] = args[1]
            args = args[2:]
        wait_routes(args[0], args[1], args[2], args[3], args[4:], **opts)
    elif cmd == "healthy":
        healthy(*args)
    elif cmd == "listen":
        listen(*args)
    elif cmd == "hosts":
        hosts(*args)
    else:
        sys.exit(f"setup_vpc.py: unknown command {cmd}")
