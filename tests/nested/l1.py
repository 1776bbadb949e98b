# SPDX-License-Identifier: GPL-2.0-or-later
"""Inside the L1 guest (tests/nested/init.sh): run each item of a
comma-separated list, one runner process per item, and echo the runner's
output on the serial console:

    NESTED: BEGIN <item> <uptime>
    NESTED| <runner line>
    NESTED: END <item> rc=<exit status> <uptime>
    NESTED: DONE

An item is testfw:CASE (tests/testfw/run.py --accel kvm CASE) or
e2e:NAME (tests/e2e/run.py NAME).  The host side (tests/nested/run.py)
bounds every wait and does the counting.
"""

import json
import os
import subprocess
import sys

QEMU = "/opt/qemu/qemu-system-x86_64"
CACHE = "/cache"
RECORDS = "/tmp/e2e.json"       # the e2e runner's records, for the boot times


def uptime():
    with open("/proc/uptime") as f:
        return f.read().split()[0]


def command(item):
    kind, _, name = item.partition(":")
    if kind == "testfw":
        return [sys.executable, "/tests/testfw/run.py", "--accel", "kvm", "--qemu", QEMU, name]
    if kind == "e2e":
        return [sys.executable, "/tests/e2e/run.py", "--qemu", QEMU,
                "--logdir", os.path.join(CACHE, "logs"), "--json", RECORDS, name]
    return None


def main():
    items = [i for i in (sys.argv[1] if len(sys.argv) > 1 else "").split(",") if i]
    env = dict(os.environ, SMMHP_CACHE=CACHE, PATH="/bin:/usr/bin", PYTHONUNBUFFERED="1",
               SMMHP_E2E_SMI_SCALE="6", SMMHP_E2E_ECHO="1")
    for item in items:
        print(f"NESTED: BEGIN {item} {uptime()}", flush=True)
        cmd = command(item)
        if cmd is None:
            print(f"NESTED| FAIL  {item}: unknown item", flush=True)
            print(f"NESTED: END {item} rc=2 {uptime()}", flush=True)
            continue
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                             cwd="/tests")
        for raw in p.stdout:
            print("NESTED| " + raw.decode("utf-8", "replace").rstrip(), flush=True)
        rc = p.wait()
        if item.startswith("e2e:") and os.path.exists(RECORDS):
            with open(RECORDS) as f:
                boots = [r["boot"] for r in json.load(f) if r.get("boot")]
            os.unlink(RECORDS)
            if boots:
                print("NESTED| L2 boot (QEMU start -> guest ready): " +
                      ", ".join(f"{b:.1f} s" for b in boots), flush=True)
        print(f"NESTED: END {item} rc={rc} {uptime()}", flush=True)
    print("NESTED: DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
