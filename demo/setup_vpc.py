"""Builds the demo VPC in moto and checks routes, through boto3.

  setup_vpc.py create URL          -> prints the scenario as JSON
  setup_vpc.py check URL VPC CIDR ENI|absent
      exits 1 unless every route table of VPC has CIDR -> ENI (or has no
      route for CIDR, with 'absent')

Only the moto server at URL (on 127.0.0.1) is contacted.
"""
import json
import sys

import boto3


def client(url):
    return boto3.client(
        "ec2",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def create(url):
    ec2 = client(url)
    vpc = ec2.create_vpc(CidrBlock="10.33.0.0/16")["Vpc"]["VpcId"]
    subnets, tables = [], []
    for cidr in ["10.33.20.0/24", "10.33.30.0/24"]:
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr)["Subnet"]["SubnetId"]
        table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
        subnets.append(subnet)
        tables.append(table)
    main = ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "association.main", "Values": ["true"]}]
    )["RouteTables"][0]["RouteTableId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    ec2.create_route(RouteTableId=main, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    routers = {}
    for name, subnet, ip in [("a", subnets[0], "10.33.20.142"), ("b", subnets[1], "10.33.30.22")]:
        inst = ec2.run_instances(
            ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro", SubnetId=subnet, PrivateIpAddress=ip
        )["Instances"][0]
        eni = inst["NetworkInterfaces"][0]["NetworkInterfaceId"]
        # Routers forward packets that are not theirs.
        ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, SourceDestCheck={"Value": False})
        routers[name] = {"ip": ip, "instance": inst["InstanceId"], "eni": eni}
    print(json.dumps({"vpc": vpc, "main": main, "tables": [main] + tables, "igw": igw, "routers": routers}))


def check(url, vpc, cidr, want):
    ec2 = client(url)
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"]
    bad = []
    for t in tables:
        routes = [r for r in t["Routes"] if r.get("DestinationCidrBlock") == cidr]
        got = routes[0].get("NetworkInterfaceId") if routes else "absent"
        if got != want:
            bad.append(f"{t['RouteTableId']}: {got}")
    if bad:
        print(f"  check FAILED: {cidr} should be {want} in every table of {vpc}: " + ", ".join(bad))
        sys.exit(1)
    print(f"  check ok (boto3): {cidr} -> {want} in all {len(tables)} route tables")


if __name__ == "__main__":
    if sys.argv[1] == "create":
        create(sys.argv[2])
    elif sys.argv[1] == "check":
        check(*sys.argv[2:6])
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
