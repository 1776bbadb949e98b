#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Build the initramfs of the L1 guest that runs the KVM cases nested.

    tests/nested/mkimage.py [--force]

Output: $SMMHP_CACHE/nested/l1.cpio (uncompressed newc), booted with the
e2e guest's kernel ($SMMHP_CACHE/guest/vmlinuz).  Everything in it comes
from this machine's Debian packages and our own builds:

  /init                     tests/nested/init.sh
  /bin/busybox              busybox-static
  /lib/modules/...          kvm-amd.ko and what it depends on, from the
                            same linux-image-* .deb as the kernel
                            (scripts/mkguest.sh keeps it as guest/kernel.deb)
  /usr/bin/python3          Debian's python3.11, with the stdlib modules the
                            runners import (found by importing them) and the
                            shared libraries ldd names
  /opt/qemu/                our qemu-system-x86_64 (stripped), its ldd
                            libraries, the option ROMs it loads
  /tests/                   tests/e2e, tests/testfw, tests/nested
  /cache/                   SMMHP_CACHE inside L1: testfw.bin, our OVMF, the
                            e2e guest's kernel and initramfs

The image is rebuilt only when an input changed (size and mtime of every
input file, compared against a stamp); the check takes well under a second.
"""

import argparse
import hashlib
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
CACHE = os.environ.get("SMMHP_CACHE", os.path.expanduser("~/.cache/smm-hotplug"))
OUT = os.path.join(CACHE, "nested")
IMAGE = os.path.join(OUT, "l1.cpio")
STAMP = os.path.join(OUT, "l1.stamp")
KERNEL = os.path.join(CACHE, "guest", "vmlinuz")

PY = "/usr/bin/python3.11"          # Debian's interpreter, not one on PATH
PYLIB = "/usr/lib/python3.11"
QEMU = os.path.join(CACHE, "build", "qemu", "qemu-system-x86_64")
# firmware the L2 QEMUs load, relative to the build tree's qemu-bundle (its
# firmware path): the option ROM for -kernel, the vapic ROM, and SeaBIOS for
# the KVM probe (harness.kvm_smm_missing starts q35 without -bios)
QEMU_DATA = ["usr/share/qemu/linuxboot_dma.bin", "usr/share/qemu/kvmvapic.bin",
             "usr/share/seabios/bios-256k.bin"]
# paths inside L1
L1_QEMU = "/opt/qemu/qemu-system-x86_64"
L1_CACHE = "/cache"

# files copied as they are: source -> path in L1
CACHE_FILES = {
    os.path.join(CACHE, "testfw", "testfw.bin"): "testfw/testfw.bin",
    os.path.join(CACHE, "build", "ovmf", "OVMF_CODE_4M.secboot.fd"):
        "build/ovmf/OVMF_CODE_4M.secboot.fd",
    os.path.join(CACHE, "build", "ovmf", "OVMF_VARS_4M.fd"): "build/ovmf/OVMF_VARS_4M.fd",
    os.path.join(CACHE, "guest", "vmlinuz"): "guest/vmlinuz",
    os.path.join(CACHE, "guest", "initramfs.cpio.gz"): "guest/initramfs.cpio.gz",
}
KERNEL_DEB = os.path.join(CACHE, "guest", "kernel.deb")
TEST_DIRS = ["e2e", "testfw", "nested"]
# the packages the interpreter and its stdlib come from (their file lists
# change when they are upgraded)
PY_PACKAGES = ["python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib"]
# modules the runners import lazily, at run time, on top of what importing
# them pulls in (soak and races: tests/e2e, imported by their scenarios)
PY_EXTRA = ["encodings.ascii", "encodings.latin_1", "fcntl", "traceback", "linecache",
            "tokenize", "token", "soak", "races"]


def die(msg):
    print(f"mkimage: {msg}", file=sys.stderr)
    sys.exit(1)


def busybox():
    bb = "/bin/busybox"
    if os.path.exists(bb) and b"statically linked" in subprocess.run(
            ["file", "-L", bb], capture_output=True).stdout:
        return bb
    out = subprocess.run(["dpkg", "-L", "busybox-static"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.endswith("/bin/busybox"):
            return line
    die("busybox-static is not installed")


def test_files():
    files = []
    for d in TEST_DIRS:
        for root, dirs, names in os.walk(os.path.join(TOP, "tests", d)):
            dirs[:] = [x for x in dirs if x != "__pycache__"]
            files += [os.path.join(root, n) for n in sorted(names)
                      if n.endswith((".py", ".sh"))]
    return sorted(files)


def inputs():
    """Every file whose change must rebuild the image."""
    files = [os.path.abspath(__file__), QEMU, KERNEL_DEB, PY, busybox()] + list(CACHE_FILES)
    files += [os.path.join(CACHE, "build", "qemu", "qemu-bundle", n) for n in QEMU_DATA]
    files += [f"/var/lib/dpkg/info/{p}:amd64.list" for p in PY_PACKAGES]
    return files + test_files()


def stamp_of(files):
    h = hashlib.sha256()
    for f in files:
        try:
            st = os.stat(f)
            h.update(f"{f} {st.st_size} {st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{f} missing\n".encode())
    return h.hexdigest()


def python_files():
    """The stdlib files Debian's python needs to start and to import the
    runners (and PY_EXTRA), each with its compiled form where Debian has one."""
    snippet = r"""
import importlib, importlib.util, os, sys
top = sys.argv[1]
for d in ("e2e", "testfw", "nested"):
    sys.path.insert(0, os.path.join(top, "tests", d))
for i, path in enumerate(sys.argv[2:]):
    spec = importlib.util.spec_from_file_location(f"_runner{i}", path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
for m in %r:
    importlib.import_module(m)
for m in list(sys.modules.values()):
    f = getattr(m, "__file__", None)
    if f:
        print(os.path.realpath(f) if f.endswith(".so") else f)
""" % (PY_EXTRA,)
    runners = [os.path.join(TOP, "tests", p) for p in
               ("testfw/run.py", "e2e/run.py", "nested/l1.py")]
    r = subprocess.run([PY, "-c", snippet, TOP] + runners, capture_output=True, text=True,
                       cwd="/")
    if r.returncode:
        die(f"cannot import the runners with {PY}: {r.stderr.strip()}")
    files = set()
    for f in r.stdout.split():
        if not f.startswith(PYLIB + "/"):
            continue            # ours (copied with tests/) or dist-packages
        files.add(f)
        if f.endswith(".py"):
            pyc = importlib_cache(f)
            if pyc and os.path.exists(pyc):
                files.add(pyc)
    # the landmark the interpreter looks for to find its prefix
    files.add(os.path.join(PYLIB, "os.py"))
    return sorted(files)


def importlib_cache(path):
    d, n = os.path.split(path)
    return os.path.join(d, "__pycache__", n[:-3] + ".cpython-311.pyc")


def ldd(paths):
    """The shared libraries (and the loader) the ELF files in paths need."""
    libs = set()
    for p in paths:
        r = subprocess.run(["ldd", p], capture_output=True, text=True)
        if "not a dynamic executable" in r.stdout + r.stderr:
            continue
        if r.returncode:
            die(f"ldd {p}: {r.stderr.strip()}")
        for line in r.stdout.splitlines():
            m = re.search(r"=> (/\S+)", line) or re.match(r"\s*(/\S+)", line)
            if m:
                libs.add(m.group(1))
            elif "=> not found" in line:
                die(f"ldd {p}: {line.strip()}")
    return sorted(libs)


def modinfo(path, key):
    """A field of a kernel module's .modinfo (NUL-separated key=value)."""
    with open(path, "rb") as f:
        data = f.read()
    for field in data.split(b"\0"):
        if field.startswith(key.encode() + b"="):
            return field[len(key) + 1:].decode()
    return None


def modules(deb, tmp):
    """Extract kvm-amd.ko and the modules it depends on (their .modinfo
    'depends'; the package has no modules.dep, depmod makes it at install
    time) from the kernel package, decompressed; in load order.  Returns
    (kernel release, [(path in L1, file)])."""
    x = os.path.join(tmp, "deb")
    os.makedirs(x)
    subprocess.run(f"dpkg-deb --fsys-tarfile '{deb}' | tar -x -C '{x}' --wildcards "
                   "'./lib/modules/*'", shell=True, check=True)
    mdirs = glob.glob(os.path.join(x, "lib", "modules", "*"))
    if len(mdirs) != 1:
        die(f"{deb}: expected one /lib/modules/<release>, found {mdirs}")
    mdir = mdirs[0]
    release = os.path.basename(mdir)
    by_name = {}
    for root, _, names in os.walk(mdir):
        for n in names:
            m = re.match(r"(.*)\.ko(\.(xz|zst|gz))?$", n)
            if m:
                by_name[m.group(1).replace("-", "_")] = os.path.join(root, n)
    order = []

    def visit(name, chain):
        if name in order:
            return
        if name not in by_name:
            die(f"{deb} has no module {name} (needed by {' <- '.join(chain) or 'us'})")
        src = plain(by_name[name])
        by_name[name] = src
        for d in filter(None, (modinfo(src, "depends") or "").split(",")):
            visit(d.replace("-", "_"), [name] + chain)
        order.append(name)

    def plain(src):
        # busybox insmod loads plain ELF only: decompress here
        for ext, cmd in ((".xz", ["xz", "-dc"]), (".zst", ["zstd", "-dcq"]),
                         (".gz", ["gzip", "-dc"])):
            if src.endswith(ext):
                with open(src[:-len(ext)], "wb") as f:
                    subprocess.run(cmd + [src], stdout=f, check=True)
                return src[:-len(ext)]
        return src

    visit("kvm_amd", [])
    out = []
    for name in order:
        src = by_name[name]
        vermagic = modinfo(src, "vermagic") or ""
        if not vermagic.startswith(release + " "):
            die(f"{src}: vermagic {vermagic!r} is not for {release}")
        out.append((f"/lib/modules/{release}/" + os.path.relpath(src, mdir), src))
    return release, out


def build():
    need = [QEMU, KERNEL_DEB, PY] + list(CACHE_FILES)
    missing = [p for p in need if not os.path.exists(p)]
    if missing:
        die("missing: " + ", ".join(missing) +
            " (make qemu ovmf guest testfw; guest/kernel.deb comes from make guest)")
    tmp = tempfile.mkdtemp(prefix="nested-image-", dir=OUT)
    try:
        root = os.path.join(tmp, "root")
        os.makedirs(root)

        def put(dst, src=None, data=None, mode=None):
            path = root + dst
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if data is not None:
                with open(path, "w") as f:
                    f.write(data)
            else:
                shutil.copy2(src, path)      # follows symlinks
            if mode is not None:
                os.chmod(path, mode)

        for d in ("bin", "dev", "proc", "sys", "tmp", "run", "usr/bin"):
            os.makedirs(os.path.join(root, d), exist_ok=True)
        os.symlink("busybox", os.path.join(root, "bin", "sh"))
        put("/bin/busybox", busybox())
        put("/init", os.path.join(HERE, "init.sh"), mode=0o755)

        release, mods = modules(KERNEL_DEB, tmp)
        for dst, src in mods:
            put(dst, src)
        put("/etc/nested/modules", data="".join(d + "\n" for d, _ in mods))

        put("/usr/bin/python3.11", PY)
        os.symlink("python3.11", os.path.join(root, "usr", "bin", "python3"))
        pyfiles = python_files()
        for f in pyfiles:
            put(f, f)

        os.makedirs(os.path.dirname(root + L1_QEMU), exist_ok=True)
        subprocess.run(["strip", "-o", root + L1_QEMU, QEMU], check=True)
        for n in QEMU_DATA:
            put(os.path.join(os.path.dirname(L1_QEMU), "qemu-bundle", n),
                os.path.join(os.path.dirname(QEMU), "qemu-bundle", n))

        elves = [PY, QEMU] + [f for f in pyfiles if f.endswith(".so")]
        for lib in ldd(elves):
            put(lib, lib)
            # the loader is found at the path the binaries name
        for f in test_files():
            put("/tests/" + os.path.relpath(f, os.path.join(TOP, "tests")), f)
        for src, dst in CACHE_FILES.items():
            put(f"{L1_CACHE}/{dst}", src)

        # the interpreter must start and import the runners from the image
        # alone: check it here, where an error is cheap to read
        r = subprocess.run(["chroot", root, "/usr/bin/python3", "-c",
                            "import sys; sys.path[:0] = ['/tests/e2e', '/tests/testfw', "
                            "'/tests/nested']; import harness, qmp, l1; print('ok')"],
                           capture_output=True, text=True)
        if r.stdout.strip() != "ok":
            die(f"python3 in the image does not start: {r.stderr.strip()[-800:]}")
        r = subprocess.run(["chroot", root, L1_QEMU, "-version"], capture_output=True, text=True)
        if r.returncode:
            die(f"qemu in the image does not start: {r.stderr.strip()[-800:]}")

        new = IMAGE + ".new"
        with open(new, "wb") as f:
            subprocess.run("find . | LC_ALL=C sort | cpio -o -H newc --quiet", shell=True,
                           cwd=root, stdout=f, check=True)
        os.replace(new, IMAGE)
        return release, len(pyfiles), os.path.getsize(IMAGE)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--force", action="store_true", help="rebuild even if up to date")
    a = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    stamp = stamp_of(inputs())
    if not a.force and os.path.exists(IMAGE) and os.path.exists(STAMP):
        with open(STAMP) as f:
            if f.read().strip() == stamp:
                print(f"mkimage: {IMAGE} is up to date")
                return 0
    try:
        release, npy, size = build()
    except (OSError, subprocess.CalledProcessError) as e:
        die(f"cannot build the image: {e}")
    with open(STAMP, "w") as f:
        f.write(stamp + "\n")
    print(f"mkimage: {IMAGE}: {size / 2**20:.0f} MiB (kernel modules of {release}, "
          f"{npy} python files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
