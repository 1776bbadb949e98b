#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Fetch a Debian source package through apt's source index and unpack it.

    fetch-source.py PACKAGE VERSION DESTDIR

Downloads the files that `apt-get source --print-uris` lists for exactly
PACKAGE=VERSION into $SMMHP_CACHE/dl, checks each against the SHA-256 that
apt's index gives, unpacks the .orig tarball with the .debian tarball on top
into DESTDIR and applies debian/patches/series with `patch --fuzz=0`.  The
.dsc is optional: some mirrors do not serve it, and nothing here needs it.

If the archive no longer has VERSION, the error names the versions it has.
"""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import urllib.request

CACHE = os.environ.get("SMMHP_CACHE",
                       os.path.expanduser("~/.cache/smm-hotplug"))


def die(msg):
    print("fetch: error: " + msg, file=sys.stderr)
    sys.exit(1)


def available_versions(pkg):
    out = subprocess.run(["apt-cache", "showsrc", pkg], capture_output=True,
                         text=True).stdout
    return re.findall(r"^Version: (\S+)$", out, re.M)


def print_uris(pkg, version):
    res = subprocess.run(["apt-get", "source", "--print-uris", "--only-source",
                          f"{pkg}={version}"],
                         capture_output=True, text=True, cwd="/tmp")
    files = []
    for m in re.finditer(r"^'(\S+)' (\S+) (\d+) SHA256:([0-9a-f]{64})$",
                         res.stdout, re.M):
        files.append((m.group(1), m.group(2), int(m.group(3)), m.group(4)))
    if res.returncode != 0 or not files:
        have = available_versions(pkg)
        die(f"apt's source index has no {pkg}={version}.\n"
            f"  versions it has: {', '.join(have) or 'none'}\n"
            f"  run scripts/setup-host.sh (adds the trixie deb-src lines), or "
            f"change the pin in scripts/versions.sh")
    return files


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url, name, size, digest, dldir):
    path = os.path.join(dldir, name)
    if os.path.exists(path) and sha256(path) == digest:
        return path
    print(f"fetch: downloading {name} ({size / 1e6:.1f} MB)", flush=True)
    tmp = path + ".part"
    try:
        with urllib.request.urlopen(url, timeout=120) as r, open(tmp, "wb") as f:
            shutil.copyfileobj(r, f, 1 << 20)
    except Exception as e:  # noqa: BLE001 - report any transport error
        if os.path.exists(tmp):
            os.unlink(tmp)
        if name.endswith(".dsc"):
            print(f"fetch: note: {name} not served ({e}); not needed",
                  flush=True)
            return None
        die(f"download of {url} failed: {e}")
    got = sha256(tmp)
    if got != digest:
        os.unlink(tmp)
        die(f"{name}: SHA-256 {got} does not match apt's index ({digest})")
    os.rename(tmp, path)
    return path


def main():
    if len(sys.argv) != 4:
        die("usage: fetch-source.py PACKAGE VERSION DESTDIR")
    pkg, version, dest = sys.argv[1:]
    dldir = os.path.join(CACHE, "dl")
    os.makedirs(dldir, exist_ok=True)
    files = print_uris(pkg, version)
    orig = debian = None
    for url, name, size, digest in files:
        path = download(url, name, size, digest, dldir)
        if ".orig.tar." in name:
            orig = path
        elif ".debian.tar." in name:
            debian = path
    if not orig or not debian:
        die(f"{pkg}={version}: expected an .orig and a .debian tarball")
    print(f"fetch: {pkg} {version}: checksums match apt's index", flush=True)

    if os.path.exists(dest):
        shutil.rmtree(dest)
    tmp = dest + ".tmp"
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    print(f"fetch: unpacking into {dest}", flush=True)
    with tarfile.open(orig) as t:
        top = {m.name.split("/")[0] for m in t.getmembers()}
        t.extractall(tmp)
    if len(top) != 1:
        die(f"{orig}: expected one top-level directory, found {sorted(top)}")
    src = os.path.join(tmp, top.pop())
    with tarfile.open(debian) as t:
        t.extractall(src)
    series = os.path.join(src, "debian", "patches", "series")
    n = 0
    if os.path.exists(series):
        with open(series) as f:
            names = [ln.split()[0] for ln in f
                     if ln.strip() and not ln.startswith("#")]
        for name in names:
            p = os.path.join(src, "debian", "patches", name)
            r = subprocess.run(["patch", "-p1", "--fuzz=0", "-s", "-i", p],
                               cwd=src, capture_output=True, text=True)
            if r.returncode != 0:
                die(f"Debian patch {name} does not apply:\n{r.stdout}{r.stderr}")
            n += 1
    print(f"fetch: applied {n} Debian patches", flush=True)
    os.rename(src, dest)
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
