#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Check that libvirt takes the machine type pc-q35-10.0-smm-hotplug as it
is, with no <qemu:commandline>: a Secure Boot SMM domain on our QEMU and
our OVMF is defined, started (TCG: this host's KVM has no SMM) and grown
with 'virsh setvcpus --live', and every hot-added CPU must come online in
the guest.  Then the same domain on Debian's OVMF, which does not negotiate
parking: libvirt must report QEMU's refusal and the guest keep its CPUs.

    tests/libvirt/run.py [--qemu PATH] [--keep]

Needs a running libvirtd with the QEMU driver (Debian: libvirt-daemon,
libvirt-daemon-driver-qemu, libvirt-clients; 'make libvirt' says how).
Prints one line per check and ends with 'N passed, M failed'.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
import harness  # noqa: E402

URI = "qemu:///system"
MACHINE = "pc-q35-10.0-smm-hotplug"
OUR_CODE = harness.OUR_OVMF_FILES["code_path"]
OUR_VARS = harness.OUR_OVMF_FILES["vars_path"]
DEB_CODE = os.path.join(harness.OVMF_DIR, "OVMF_CODE_4M.secboot.fd")
DEB_VARS = os.path.join(harness.OVMF_DIR, "OVMF_VARS_4M.fd")
MAXCPUS = 4


def virsh(*args, timeout=120):
    p = subprocess.run(["virsh", "-c", URI] + list(args), capture_output=True,
                       text=True, timeout=timeout)
    return p.returncode, (p.stdout + p.stderr).strip()


def domain_xml(name, qemu, code, vars_template, nvram, console):
    guest = os.path.join(harness.CACHE, "guest")
    vcpus = "\n".join(
        f"    <vcpu id='{i}' enabled='{'yes' if i == 0 else 'no'}' "
        f"hotpluggable='{'no' if i == 0 else 'yes'}'/>" for i in range(MAXCPUS))
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>512</memory>
  <vcpu placement='static' current='1'>{MAXCPUS}</vcpu>
  <vcpus>
{vcpus}
  </vcpus>
  <os>
    <type arch='x86_64' machine='{MACHINE}'>hvm</type>
    <loader readonly='yes' secure='yes' type='pflash'>{code}</loader>
    <nvram template='{vars_template}'>{nvram}</nvram>
    <kernel>{os.path.join(guest, 'vmlinuz')}</kernel>
    <initrd>{os.path.join(guest, 'initramfs.cpio.gz')}</initrd>
    <cmdline>console=ttyS0 quiet e2e.poll=0.05 e2e.hb=20</cmdline>
  </os>
  <features>
    <acpi/>
    <apic/>
    <smm state='on'/>
  </features>
  <on_reboot>destroy</on_reboot>
  <devices>
    <emulator>{qemu}</emulator>
    <serial type='file'>
      <source path='{console}'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def wait_console(path, pattern, timeout, start=0):
    """The first match of pattern in the console file after offset start."""
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path, errors="replace") as f:
                f.seek(start)
                for line in f:
                    m = rx.search(line)
                    if m:
                        return m
        except FileNotFoundError:
            pass
        time.sleep(0.2)
    return None


def console_size(path):
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def console_tail(path, n=6):
    try:
        with open(path, errors="replace") as f:
            return [ln.rstrip() for ln in f.readlines()[-n:]]
    except FileNotFoundError:
        return ["(no console output)"]


class Run:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, ok, what, detail="", diag=()):
        print(f"{'PASS' if ok else 'FAIL'}  libvirt {what}" + (f": {detail}" if detail else ""),
              flush=True)
        if not ok:
            for d in diag:
                print(f"      {d}", flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        return ok


def scenario(run, qemu, tmp, fw, keep):
    """One domain: define, start, hot-add.  fw is 'ours' or 'debian'."""
    name = f"smmhp-libvirt-{fw}-{os.getpid()}"
    code, vars_ = (OUR_CODE, OUR_VARS) if fw == "ours" else (DEB_CODE, DEB_VARS)
    console = os.path.join(tmp, f"{fw}-console.log")
    xml = os.path.join(tmp, f"{fw}.xml")
    with open(xml, "w") as f:
        f.write(domain_xml(name, qemu, code, vars_, os.path.join(tmp, f"{fw}-vars.fd"),
                           console))
    rc, out = virsh("define", xml)
    if not run.check(rc == 0, f"{fw}: define {MACHINE} with no <qemu:commandline>", out):
        return
    try:
        rc, out = virsh("start", name)
        if not run.check(rc == 0, f"{fw}: start", out):
            return
        m = wait_console(console, r"E2E: READY ncpus=(\d+)", 180)
        if not run.check(bool(m) and m.group(1) == "1", f"{fw}: guest booted with 1 CPU",
                         m.group(0) if m else "no READY line within 180 s",
                         console_tail(console)):
            return
        since = console_size(console)
        t = time.monotonic()
        rc, out = virsh("setvcpus", name, str(MAXCPUS - 1), "--live", timeout=180)
        if fw == "ours":
            if not run.check(rc == 0, f"{fw}: virsh setvcpus {MAXCPUS - 1} --live", out):
                return
            online = set()
            deadline = time.monotonic() + 60
            while len(online) < MAXCPUS - 2 and time.monotonic() < deadline:
                m = wait_console(console, r"E2E: CPU(\d+) ONLINE ncpus=", 1, since)
                if m:
                    with open(console, errors="replace") as f:
                        f.seek(since)
                        online = set(re.findall(r"E2E: CPU(\d+) ONLINE ncpus=", f.read()))
            run.check(len(online) == MAXCPUS - 2,
                      f"{fw}: {MAXCPUS - 2} hot-added CPUs online in the guest",
                      f"CPUs {', '.join(sorted(online))} online "
                      f"{time.monotonic() - t:.1f} s after setvcpus",
                      console_tail(console))
            rc, out = virsh("vcpucount", name, "--live", "--active")
            run.check(rc == 0 and out.strip() == str(MAXCPUS - 1),
                      f"{fw}: virsh vcpucount --live --active", out)
        else:
            run.check(rc != 0 and "parking is required" in out,
                      f"{fw}: virsh setvcpus refused with QEMU's reason",
                      out.replace("\n", " ")[:300])
            rc, out = virsh("vcpucount", name, "--live", "--active")
            run.check(rc == 0 and out.strip() == "1",
                      f"{fw}: the domain still has 1 vCPU", out)
    finally:
        if not keep:
            virsh("destroy", name)
            virsh("undefine", name, "--nvram")


def readme_xml(run, qemu, tmp):
    """The domain XML of README.md, as written there (our QEMU as its
    emulator), must be accepted by 'virsh define'."""
    with open(os.path.join(os.path.dirname(os.path.dirname(HERE)), "README.md")) as f:
        m = re.search(r"```xml\n(<domain .*?</domain>)\n```", f.read(), re.S)
    if not run.check(bool(m), "README.md has a domain XML"):
        return
    name = f"smmhp-libvirt-readme-{os.getpid()}"
    xml = re.sub(r"<name>[^<]*</name>", f"<name>{name}</name>", m.group(1))
    xml = re.sub(r"<emulator>[^<]*</emulator>", f"<emulator>{qemu}</emulator>", xml)
    path = os.path.join(tmp, "readme.xml")
    with open(path, "w") as f:
        f.write(xml)
    rc, out = virsh("define", path)
    run.check(rc == 0, "virsh define of README.md's domain XML", out.replace("\n", " "))
    if rc == 0:
        virsh("undefine", name, "--nvram")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qemu", default=os.path.join(harness.CACHE, "build", "qemu",
                                                   "qemu-system-x86_64"))
    ap.add_argument("--keep", action="store_true", help="leave the domains defined")
    a = ap.parse_args()
    for need, how in ((a.qemu, "make qemu"), (OUR_CODE, "make ovmf"),
                      (os.path.join(harness.CACHE, "guest", "vmlinuz"), "make guest"),
                      (DEB_CODE, "apt-get install ovmf")):
        if not os.path.exists(need):
            print(f"libvirt: {need} is missing: run '{how}' first", file=sys.stderr)
            return 2
    if not shutil.which("virsh"):
        print("libvirt: virsh not found: apt-get install libvirt-clients "
              "libvirt-daemon libvirt-daemon-driver-qemu", file=sys.stderr)
        return 2
    rc, out = virsh("list", "--all", timeout=30)
    if rc:
        print(f"libvirt: cannot reach libvirtd at {URI}: {out}\n"
              "libvirt: start it (systemctl start libvirtd, or 'libvirtd -d')",
              file=sys.stderr)
        return 2
    print(f"libvirt: virsh {virsh('-v')[1]}, libvirtd at {URI}", flush=True)
    run = Run()
    tmp = tempfile.mkdtemp(prefix="smmhp-libvirt-")
    os.chmod(tmp, 0o755)
    try:
        rc, out = virsh("domcapabilities", "--emulatorbin", a.qemu, "--machine", MACHINE,
                        "--virttype", "qemu")
        m = re.search(r"<machine>([^<]+)</machine>", out)
        run.check(rc == 0 and m and m.group(1) == MACHINE,
                  f"domcapabilities knows {MACHINE}", m.group(1) if m else out[:200])
        readme_xml(run, a.qemu, tmp)
        for fw in ("ours", "debian"):
            scenario(run, a.qemu, tmp, fw, a.keep)
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{run.passed} passed, {run.failed} failed")
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())
