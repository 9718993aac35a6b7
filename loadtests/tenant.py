"""A load-test tenant on a running platform (a deployment, or the local stack), made and removed through the public
API only.

    export IOT_ADMIN_PASSWORD=...      # a deployment's: gcloud secrets versions access N --secret=iot-admin-password
    python -m loadtests.tenant seed --api https://iot.example.com \\
        --gateway https://gateway-http-NUMBER.REGION.run.app/ --users 20 --out seed.json
    PAPER_SEED=seed.json locust -f loadtests/locustfile_paper.py --class-picker    # README, "Load-testing a deployment"
    python -m loadtests.tenant remove seed.json                                  # or: --api URL --tenant ID

A tenant is ``--users`` accounts named ``loadtest-<tenant>-<n>``, each with ``--devices`` devices of one sensor, a
consumer granted every sensor, device and consumer keys, and one reading per sensor, so reads find data from the
first request. The seed file is what ``loadtests/locustfile_paper.py`` reads; it holds passwords and keys, so keep it
private and remove the tenant when done. ``remove`` finds the tenant's accounts by name (it also cleans up after a
seed that stopped half-way) and deletes them with everything they own (devices, sensors, consumers, grants, so their
keys stop working); their readings are erased afterwards by the pipeline's deletion tick, as any deleted user's are.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import secrets
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from tqdm import tqdm

from emulators.api_client import ApiClient

USERS = 10
DEVICES = 5  # per user, as in the thesis' data set: 100 users x 5 devices x 1 sensor
SEEDERS = 8  # accounts seeded at once
TENANT = re.compile(r"[0-9a-f]{6}")
PREFIX = "loadtest-{tenant}-"  # every username of a tenant starts with this
NAME = PREFIX + "{index:03d}"


def new_tenant() -> str:
    """A fresh tenant id: six hex digits."""
    return secrets.token_hex(3)


def seed(admin: ApiClient, gateway_url: str, tenant: str, *, users: int = USERS, devices: int = DEVICES,
         workers: int = SEEDERS, progress: bool = True) -> dict:
    """Create the tenant's accounts through the API ``admin`` is signed in to; return the seed file's content."""
    api_url = admin.base_url

    def one(index: int) -> dict:
        username, password = NAME.format(tenant=tenant, index=index), secrets.token_urlsafe(15)
        user = ApiClient(api_url, admin.token).create_user(username, password, name=f"Load test {tenant} {index}")
        owner = ApiClient(api_url)
        signed_in = owner.signin(username, password)
        created = []
        for number in range(devices):
            device = owner.create_device(f"load device {number}", f"load test {tenant}")
            sensor = owner.create_sensor(device["id"], "temperature", {"type": "double"})
            created.append({"id": device["id"], "sensor_id": sensor["id"],
                            "token": owner.device_key(device["id"])["token"]})
        consumer = owner.create_consumer("load consumer", f"load test {tenant}")
        for device in created:
            owner.grant(consumer["id"], device["sensor_id"])
        for device in created:
            requests.post(gateway_url, timeout=30, headers={"Authorization": f"Bearer {device['token']}"},
                          json={"sensor_id": device["sensor_id"], "timestamp": time.time_ns() // 1_000_000,
                                "value": 20.0}).raise_for_status()
        return {"id": user["id"], "username": username, "password": password, "token": signed_in["token"],
                "devices": created, "consumer_id": consumer["id"],
                "consumer_token": owner.consumer_key(consumer["id"])["token"]}

    with ThreadPoolExecutor(workers) as pool:
        accounts = list(tqdm(pool.map(one, range(users)), total=users, unit="user", desc="seeding", ncols=100,
                             disable=not progress))
    return {"tenant": tenant, "api_url": api_url, "gateway_url": gateway_url, "accounts": accounts}


def remove(admin: ApiClient, tenant: str) -> list[str]:
    """Delete every account of ``tenant`` (and what it owns) through the API; return the usernames removed."""
    if not TENANT.fullmatch(tenant):
        raise ValueError(f"a tenant id is six hex digits, not {tenant!r}")
    start = PREFIX.format(tenant=tenant)
    doomed = [user for user in admin.list_users() if user["username"].startswith(start)]
    for user in doomed:
        admin.delete_user(user["id"])
    return sorted(user["username"] for user in doomed)


def signed_in_admin(api_url: str, username: str | None = None) -> ApiClient:
    """The admin, signed in: ``IOT_ADMIN_USERNAME`` (default root) and ``IOT_ADMIN_PASSWORD``, else a prompt."""
    username = username or os.environ.get("IOT_ADMIN_USERNAME") or "root"
    password = os.environ.get("IOT_ADMIN_PASSWORD") or getpass.getpass(f"password of {username} at {api_url}: ")
    admin = ApiClient(api_url)
    admin.signin(username, password)
    return admin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.tenant", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    seeding = commands.add_parser("seed", help="create a tenant and write its seed file")
    seeding.add_argument("--api", required=True, help="base URL of the API (https://DOMAIN)")
    seeding.add_argument("--gateway", required=True, help="URL of gateway-http (terraform output gateway_urls)")
    seeding.add_argument("--users", type=int, default=USERS, help="accounts (default %(default)s)")
    seeding.add_argument("--devices", type=int, default=DEVICES, help="devices per account (default %(default)s)")
    seeding.add_argument("--out", type=Path, required=True, help="the seed file to write")
    removing = commands.add_parser("remove", help="delete a tenant's accounts and everything they own")
    removing.add_argument("seed_file", type=Path, nargs="?", help="a seed file (names the API and the tenant)")
    removing.add_argument("--api", help="base URL of the API, without a seed file")
    removing.add_argument("--tenant", help="the tenant id, without a seed file")
    for command in (seeding, removing):
        command.add_argument("--admin", help="the admin's username (default: IOT_ADMIN_USERNAME or root)")
    args = parser.parse_args(argv)

    if args.command == "seed":
        if args.users < 1 or args.devices < 1:
            parser.error("--users and --devices must be at least 1")
        tenant = new_tenant()
        admin = signed_in_admin(args.api.rstrip("/"), args.admin)
        print(f"seeding tenant {tenant}; should this stop half-way: python -m loadtests.tenant remove "
              f"--api {admin.base_url} --tenant {tenant}", file=sys.stderr)
        data = seed(admin, args.gateway, tenant, users=args.users, devices=args.devices)
        args.out.write_text(json.dumps(data, indent=1))
        args.out.chmod(0o600)  # passwords and keys
        print(f"tenant {tenant}: {args.users} accounts x {args.devices} devices written to {args.out}")
        return 0

    if args.seed_file:
        data = json.loads(args.seed_file.read_text())
        api, tenant = data["api_url"], data["tenant"]
    elif args.api and args.tenant:
        api, tenant = args.api.rstrip("/"), args.tenant
    else:
        parser.error("remove needs a seed file, or --api and --tenant")
    if not TENANT.fullmatch(tenant):
        parser.error(f"a tenant id is six hex digits, not {tenant!r}")
    removed = remove(signed_in_admin(api, args.admin), tenant)
    print(f"tenant {tenant}: removed {len(removed)} accounts and everything they owned")
    return 0


if __name__ == "__main__":
    sys.exit(main())
