# SPDX-License-Identifier: GPL-2.0-or-later
"""End-to-end CPU hotplug scenarios: a Linux guest on SeaBIOS or OVMF under
TCG, CPUs added and removed through QMP, every wait bounded.

A scenario returns a Result; it never raises for a guest that misbehaves,
and it always kills QEMU before it returns.
"""

import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time

from qmp import QMP, QMPError

CACHE = os.environ.get("SMMHP_CACHE", os.path.expanduser("~/.cache/smm-hotplug"))
OVMF_DIR = "/usr/share/OVMF"

# Firmware configurations.  "xfail" = (reason, pattern) names a known
# failure: the scenario is expected to fail for that reason, with a failure
# detail that matches pattern (re.search); another failure is a FAIL, and a
# pass is reported as a failure (XPASS) so that the expectation gets removed.
# "expect_features": the SMI features the firmware must have negotiated
# once the guest is up (SeaBIOS and OVMF without SMM negotiate none; OVMF
# with SMM broadcast SMI, CPU hotplug and hot-unplug with SMI).
FIRMWARE = {
    "seabios": {
        "smm": "on", "desc": "SeaBIOS, smm=on", "expect_features": 0,
    },
    "ovmf-nosmm": {
        "smm": "off", "desc": "Debian OVMF without SMM (OVMF_CODE_4M.fd), smm=off",
        "code": "OVMF_CODE_4M.fd", "vars": "OVMF_VARS_4M.fd", "expect_features": 0,
    },
    "ovmf-smm": {
        "smm": "on", "desc": "Debian OVMF with SMM (OVMF_CODE_4M.secboot.fd), smm=on",
        "code": "OVMF_CODE_4M.secboot.fd", "vars": "OVMF_VARS_4M.fd",
        "secure": True, "expect_features": 0x7,
    },
}

APM_STS_ON = ["-global", "ICH9-LPC.x-smi-apm-sts=on"]
PARKING_ON = ["-global", "ICH9-LPC.x-smi-cpu-hotplug-parking=on"]


def _variant(base, what, extra, **more):
    """A firmware configuration that only adds QEMU properties to @base."""
    v = dict(FIRMWARE[base], desc=f"{FIRMWARE[base]['desc']}, {what}", extra=extra)
    v.update(more)
    return v


FIRMWARE.update({
    # APM_STS negotiation front end on: what SeaBIOS and OVMF write to port
    # 0xb3 must mean what it did.
    "seabios-apmsts": _variant("seabios", "ICH9-LPC.x-smi-apm-sts=on", APM_STS_ON),
    "ovmf-smm-apmsts": _variant("ovmf-smm", "ICH9-LPC.x-smi-apm-sts=on", APM_STS_ON),
    # Parking offered: stock OVMF does not know bit 3, negotiates 0x7 as
    # before, and hotplug works as before.
    "ovmf-smm-parkoffer": _variant("ovmf-smm", "parking offered",
                                   APM_STS_ON + PARKING_ON),
    # Parking required: stock OVMF does not negotiate it, so device_add must
    # be refused with an error that says so, and the guest must go on.
    "ovmf-smm-parkrequired": _variant(
        "ovmf-smm", "parking required (device_add refused)",
        PARKING_ON + ["-global", "ICH9-LPC.x-smi-require-parking=on"],
        expect_refused="parking is required"),
})

# OVMF built from Debian's edk2 with our series (make ovmf).  With parking
# offered and required it must negotiate bits 0-3 and bring every CPU up
# through set SMBASE + unpark; without parking offered it must take the
# legacy path (SMI at the default SMBASE) as stock OVMF does.
OUR_OVMF = os.path.join(CACHE, "build", "ovmf")
OUR_OVMF_FILES = dict(code_path=os.path.join(OUR_OVMF, "OVMF_CODE_4M.secboot.fd"),
                      vars_path=os.path.join(OUR_OVMF, "OVMF_VARS_4M.fd"))
FIRMWARE.update({
    "ovmf-parking": dict(
        FIRMWARE["ovmf-smm"], desc="our OVMF (make ovmf), smm=on, parking offered and required",
        **OUR_OVMF_FILES,
        extra=PARKING_ON + ["-global", "ICH9-LPC.x-smi-require-parking=on",
                            "-trace", "cpu_hotplug_smm_*"],
        expect_features=0xF, expect_unparked=True,
        scenarios=("add1", "add3", "unplug-readd", "add1-reboot", "add1-paused",
                   "smp2-add1", "prelaunch-add2", "s3-asc", "s3-desc",
                   "s3-unplug-hole", "add1-late-online", "add3-in-smi", "slot-race",
                   "soak", "add1-msr")),
    "ovmf-ours-legacy": dict(
        FIRMWARE["ovmf-smm"], desc="our OVMF (make ovmf), smm=on, parking not offered",
        **OUR_OVMF_FILES,
        extra=[], expect_features=0x7, scenarios=("add1", "unplug-readd", "add1-msr")),
})
# The firmware's error paths, reached with ICH9-LPC.x-smi-parking-fault
# (testing only): a CPU whose SMBASE cannot be set stays parked, the guest
# never sees it and QMP reports the failed insertion (ACPI_DEVICE_OST,
# status 1); a hot-added CPU that reads as not parked although parking is
# negotiated is ejected by the firmware (fail closed), and the guest goes on.
FIRMWARE.update({
    "ovmf-parking-fault-smbase": dict(
        FIRMWARE["ovmf-parking"], desc="our OVMF, parking, SMBASE writes refused (fault 2)",
        extra=FIRMWARE["ovmf-parking"]["extra"] +
        ["-global", "ICH9-LPC.x-smi-parking-fault=2"],
        expect_unparked=False, expect_stays_parked=True, scenarios=("add1",)),
    "ovmf-parking-fault-controls": dict(
        FIRMWARE["ovmf-parking"], desc="our OVMF, parking, controls hidden (fault 1)",
        extra=FIRMWARE["ovmf-parking"]["extra"] +
        ["-global", "ICH9-LPC.x-smi-parking-fault=1"],
        expect_unparked=False, expect_ejected=True, scenarios=("add1",)),
})

# Stock OVMF (2022.11, and edk2 up to 2025.05) writes MSR_IA32_FEATURE_CONTROL
# on the boot CPUs only (PlatformPei), not on a hot-added one: add1-msr
# must fail there, the way edk2 issue 11188 describes.
FIRMWARE["ovmf-smm-msr"] = _variant(
    "ovmf-smm", "hot-added CPU's MSR_IA32_FEATURE_CONTROL", [], scenarios=("add1-msr",),
    xfail=("stock OVMF writes no MSR_IA32_FEATURE_CONTROL on a hot-added CPU "
           "(edk2 issue 11188)", r"MSR_IA32_FEATURE_CONTROL 0x0 on the hot-added CPU"))

# the same under KVM, where parking keeps the vCPU out of KVM_RUN; runs only
# where KVM supports SMM (kvm_smm_missing), else reported skipped
FIRMWARE["ovmf-parking-kvm"] = dict(
    FIRMWARE["ovmf-parking"], desc=FIRMWARE["ovmf-parking"]["desc"] + ", KVM", accel="kvm",
    scenarios=("add1", "add3", "unplug-readd", "add1-reboot", "add1-paused",
               "prelaunch-add2", "add1-late-online", "add3-in-smi", "slot-race", "soak"))


class Result:
    def __init__(self, name):
        self.name = name
        self.ok = False
        self.detail = ""
        self.times = []          # seconds, device_add -> guest online
        self.unplug_times = []   # seconds, device_del -> removal seen
        self.boot = None         # seconds, spawn -> guest READY
        self.diag = []           # lines explaining a failure
        self.features = None     # negotiated SMI features

    def fail(self, detail, diag=()):
        self.ok = False
        self.detail = detail
        self.diag.extend(diag)
        return self


# fields of 'info registers -a' per vCPU: name -> regex (group 1 is the value)
REGISTER_FIELDS = (("RIP", r"[RE]IP=([0-9a-f]+)"), ("CS", r"\nCS =([0-9a-f]+)"),
                   ("SMM", r"SMM=(\d)"), ("HLT", r"HLT=(\d)"), ("CPL", r"CPL=(\d)"),
                   ("RFL", r"[RE]FL=([0-9a-f]+)"))


def cpu_registers(text):
    """(vCPU index, {field: value or '?'}) for each vCPU in the output of
    'info registers -a' (REGISTER_FIELDS, plus IF from RFLAGS)."""
    for block in re.split(r"\n(?=CPU#)", text):
        m = re.match(r"CPU#(\d+)", block)
        if not m:
            continue
        f = {k: (re.search(rx, block) or [None, "?"])[1] for k, rx in REGISTER_FIELDS}
        f["IF"] = "?" if f["RFL"] == "?" else str(int(f["RFL"], 16) >> 9 & 1)
        yield int(m.group(1)), f


class Guest:
    """One QEMU process with the test guest; serial on stdout, QMP socket."""

    def __init__(self, qemu, fw, smp="1,maxcpus=4", extra=(), logdir=None,
                 name="guest", machine="q35", hb=20, append="", accel=None,
                 commands=False):
        self.fw = FIRMWARE[fw]
        self.tmp = tempfile.mkdtemp(prefix="smmhp-")
        self.sock = os.path.join(self.tmp, "qmp.sock")
        # commands: a second serial port (the guest's ttyS1, e2e.cmd=1) on
        # which the guest takes commands (tests/guest/init.sh; send())
        self.cmdsock = os.path.join(self.tmp, "cmd.sock") if commands else None
        self.cmdconn = None
        self.lines = []          # (monotonic time, text)
        self.cond = threading.Condition()
        guest = os.path.join(CACHE, "guest")
        args = [qemu, "-machine", f"{machine},smm={self.fw['smm']}",
                "-accel", accel or self.fw.get("accel", "tcg"), "-m", "512M", "-smp", smp,
                "-nodefaults", "-display", "none", "-vga", "none",
                "-net", "none", "-monitor", "none", "-serial", "stdio",
                "-qmp", f"unix:{self.sock},server=on,wait=off",
                "-kernel", os.path.join(guest, "vmlinuz"),
                "-initrd", os.path.join(guest, "initramfs.cpio.gz"),
                "-append", f"console=ttyS0 quiet e2e.poll=0.05 e2e.hb={hb} {append}"
                + (" e2e.cmd=1" if commands else "")]
        self.echo = os.environ.get("SMMHP_E2E_ECHO") == "1"
        if self.echo:
            # the watchdog's own monitor: QMP() is not shared between threads
            args += ["-qmp", f"unix:{os.path.join(self.tmp, 'qmp-wd.sock')},"
                     "server=on,wait=off"]
        if commands:
            args += ["-chardev", f"socket,id=e2ecmd,path={self.cmdsock},server=on,wait=off",
                     "-device", "isa-serial,chardev=e2ecmd"]
        if "code" in self.fw:
            code = os.environ.get("SMMHP_OVMF_CODE_" + fw.upper().replace("-", "_"),
                                  self.fw.get("code_path",
                                              os.path.join(OVMF_DIR, self.fw["code"])))
            for need in (code, self.fw.get("vars_path")):
                if need and not os.path.exists(need):
                    raise FileNotFoundError(f"{need} is missing: run 'make ovmf'")
            vars_ = os.path.join(self.tmp, "vars.fd")
            shutil.copy(self.fw.get("vars_path", os.path.join(OVMF_DIR, self.fw["vars"])),
                        vars_)
            if self.fw.get("secure"):
                args += ["-global", "driver=cfi.pflash01,property=secure,value=on"]
            args += ["-drive", f"if=pflash,format=raw,unit=0,file={code},readonly=on",
                     "-drive", f"if=pflash,format=raw,unit=1,file={vars_}"]
        args += self.fw.get("extra", []) + list(extra)
        self.args = args
        self.logpath = os.path.join(logdir, f"serial-{name}.log") if logdir else None
        self.log = open(self.logpath, "w") if self.logpath else None
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.stderr = []
        # SMMHP_E2E_ECHO=1 (tests/nested sets it): the guest's E2E lines
        # (not its heartbeats) and QEMU's stderr are echoed as they come,
        # so that a runner watching from outside sees where a scenario is
        threading.Thread(target=self._reader, daemon=True).start()
        # the watchdog ends in close(): a daemon thread that wakes while
        # the interpreter exits makes glibc call pthread_exit(), which
        # aborts where libgcc_s is missing (L1's image)
        self.closing = threading.Event()
        self.watchdog = None
        if self.echo:
            self.watchdog = threading.Thread(target=self._watchdog, daemon=True)
            self.watchdog.start()
        threading.Thread(target=self._errreader, daemon=True).start()
        self.qmp = None

    def _reader(self):
        for raw in self.proc.stdout:
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            text = re.sub(r"\x1b\[[0-9;=?]*[A-Za-z]", "", text).replace("\r", "")
            t = time.monotonic()
            if self.log:
                self.log.write(f"{t - self.t0:9.3f} {text}\n")
                self.log.flush()
            if self.echo and text.startswith("E2E: ") and not text.startswith("E2E: HB"):
                print(f"  ~ {t - self.t0:7.1f} {text}", flush=True)
            with self.cond:
                self.lines.append((t, text))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def _watchdog(self, quiet=60.0):
        """Echo mode: when the guest prints nothing (no heartbeat either) for
        @quiet seconds, echo where its vCPUs are, once per silence; what
        is stuck is then known even if the runner is stopped from outside
        before its own wait ends."""
        reported = None
        while self.proc.poll() is None and not self.closing.wait(5):
            with self.cond:
                n = len(self.lines)
                last = self.lines[-1][0] if self.lines else self.t0
            if time.monotonic() - last < quiet or reported == n:
                continue
            reported = n
            print(f"  ~ {time.monotonic() - self.t0:7.1f} no guest output for "
                  f"{time.monotonic() - last:.0f} s:", flush=True)
            try:
                q = QMP(os.path.join(self.tmp, "qmp-wd.sock"), timeout=10)
                try:
                    for ln in self.diagnose(n, q)[1:]:
                        print(f"  ~         {ln}", flush=True)
                    for ln in q.hmp("info registers -a").splitlines():
                        print(f"  ~         {ln}", flush=True)
                finally:
                    q.close()
            except Exception as e:  # noqa: BLE001 - diagnostics are best effort
                print(f"  ~         (no monitor: {type(e).__name__}: {e})", flush=True)

    def _errreader(self):
        for raw in self.proc.stderr:
            text = raw.decode("utf-8", "replace").rstrip()
            if self.echo:
                print(f"  ~ {time.monotonic() - self.t0:7.1f} qemu: {text}", flush=True)
            self.stderr.append(text)

    def connect(self):
        self.qmp = QMP(self.sock, timeout=30)

    def send(self, command):
        """One command line to the guest's command port (commands=True)."""
        if self.cmdconn is None:
            self.cmdconn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            # bounded: a guest that stops reading its port must not hang us
            self.cmdconn.settimeout(10)
            self.cmdconn.connect(self.cmdsock)
        self.cmdconn.sendall(command.encode() + b"\n")

    def command(self, command, timeout):
        """Send a command and wait for its answer 'E2E: CMD <command> ...';
        the text after the command, or None on timeout."""
        since = self.mark()
        self.send(command)
        hit = self.wait_line(r"E2E: CMD " + re.escape(command) + r"(?: (.*))?$",
                             timeout, since)
        return (hit[1].group(1) or "") if hit else None

    def wait_line(self, pattern, timeout, start=0):
        """Wait for a serial line matching pattern at index >= start.
        Returns (time, match, index) or None on timeout or QEMU exit."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i][1])
                    if m:
                        return self.lines[i][0], m, i
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return None
                self.cond.wait(min(left, 0.5))

    def mark(self):
        with self.cond:
            return len(self.lines)

    def exit_note(self):
        """'; QEMU exited with status N' once QEMU has exited, else ''."""
        rc = self.proc.poll()
        return "" if rc is None else f"; QEMU exited with status {rc}"

    def booted(self, res, timeout):
        """Wait for the guest's READY line: the hit (res.boot set), or None
        with res failed."""
        hit = self.wait_line(r"E2E: READY ncpus=(\d+)", timeout)
        if not hit:
            res.fail(f"guest did not boot within {timeout:.0f} s",
                     ["qemu stderr: " + s for s in self.stderr[-5:]] +
                     ["last serial lines:"] + ["  | " + s for s in self.tail()])
            return None
        res.boot = hit[0] - self.t0
        return hit

    def harness_error(self, res, e):
        """Fail res for an exception of the harness itself, with what the
        guest and QEMU said last."""
        return res.fail(f"harness error: {type(e).__name__}: {e}" + self.exit_note(),
                        ["last serial lines:"] + ["  | " + s for s in self.tail()] +
                        ["qemu stderr: " + s for s in self.stderr[-5:]])

    def tail(self, n=8):
        with self.cond:
            return [t for _, t in self.lines[-n:]]

    def diagnose(self, since, qmp=None):
        """Explain a stuck guest: heartbeats, vCPU states, last serial lines."""
        out = []
        with self.cond:
            hb = sum(1 for t, s in self.lines[since:] if s.startswith("E2E: HB"))
        out.append(f"guest heartbeats since the event: {hb}"
                   + (" (guest hung)" if hb == 0 else " (guest alive)"))
        try:
            regs = (qmp or self.qmp).hmp("info registers -a")
            for cpu, f in cpu_registers(regs):
                out.append(f"vCPU {cpu}: RIP={f['RIP']} CS={f['CS']} SMM={f['SMM']} "
                           f"HLT={f['HLT']}")
                if f["SMM"] == "1" and f["RIP"] != "?":
                    # the code there, as that CPU sees it (SMRAM): to find
                    # the firmware function by its bytes in the build tree
                    try:
                        code = (qmp or self.qmp).cmd(
                            "human-monitor-command",
                            **{"command-line": f"x/32xb 0x{f['RIP']}", "cpu-index": cpu})
                        out.append("  code: " + " ".join(
                            re.findall(r"0x([0-9a-f]{2})\b", code)))
                    except Exception as e:  # noqa: BLE001 - best effort
                        out.append(f"  (no code bytes: {e})")
        except Exception as e:  # noqa: BLE001 - diagnostics are best effort
            out.append(f"(no register dump: {e})")
        out.append("last serial lines:")
        out.extend("  | " + s for s in self.tail())
        return out

    def close(self):
        self.closing.set()
        if self.watchdog:
            self.watchdog.join(timeout=30)
        if self.cmdconn:
            self.cmdconn.close()
        if self.qmp:
            try:
                self.qmp.cmd("quit", timeout=5)
            except Exception:  # noqa: BLE001
                pass
            self.qmp.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.log:
            self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def free_slots(qmp):
    slots = [s for s in qmp.cmd("query-hotpluggable-cpus") if "qom-path" not in s]
    key = ("socket-id", "die-id", "module-id", "core-id", "thread-id")
    slots.sort(key=lambda s: tuple(s["props"].get(k, 0) for k in key))
    return slots


def negotiated_features(qmp):
    """ICH9-LPC's x-smi-negotiated-features (the LPC bridge is 00:1f.0)."""
    try:
        for p in qmp.cmd("qom-list", path="/machine/unattached"):
            if not p["type"].startswith("child<ICH9-LPC"):
                continue
            return qmp.cmd("qom-get", path=f"/machine/unattached/{p['name']}",
                           property="x-smi-negotiated-features")
    except Exception:  # noqa: BLE001
        pass
    return None


# what QEMU says, and nothing else, when KVM cannot do SMM (target/i386/kvm)
KVM_NO_SMM = "System Management Mode not supported by this hypervisor"
KVM_CHECK_EXTENSION = 0xAE03     # _IO(KVMIO, 0x03)
KVM_CAP_X86_SMM = 117


class KVMProbeError(Exception):
    """QEMU failed to start q35 with SMM under KVM for a reason other than
    KVM lacking SMM: a failure to report, never a reason to skip."""


def kvm_cap_smm(dev="/dev/kvm"):
    """KVM_CHECK_EXTENSION(KVM_CAP_X86_SMM) on dev: its value, or None
    without dev."""
    import fcntl
    if not os.path.exists(dev):
        return None
    fd = os.open(dev, os.O_RDWR | os.O_CLOEXEC)
    try:
        return fcntl.ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_SMM)
    finally:
        os.close(fd)


def kvm_smm_missing(qemu, timeout=60):
    """None if QEMU runs q35 with SMM under KVM here; the reason if this
    host cannot (no /dev/kvm, or KVM_CAP_X86_SMM is 0 and QEMU says
    exactly that).  Anything else (a crash, a hang, another error, QEMU
    and the capability disagreeing) raises KVMProbeError."""
    try:
        cap = kvm_cap_smm()
    except OSError as e:
        raise KVMProbeError(f"KVM_CHECK_EXTENSION(KVM_CAP_X86_SMM) on /dev/kvm: {e}")
    if cap is None:
        return "this host has no /dev/kvm"
    try:
        p = subprocess.run([qemu, "-accel", "kvm", "-machine", "q35,smm=on", "-nodefaults",
                            "-display", "none", "-S", "-qmp", "stdio"],
                           input='{"execute": "qmp_capabilities"}\n{"execute": "quit"}\n',
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise KVMProbeError(f"QEMU with -accel kvm -machine q35,smm=on did not quit within "
                            f"{timeout} s (KVM_CAP_X86_SMM = {cap})")
    except OSError as e:
        raise KVMProbeError(f"cannot run {qemu}: {e}")
    if p.returncode == 0 and cap:
        return None
    if p.returncode == 1 and cap == 0 and KVM_NO_SMM in p.stderr:
        return f"KVM here has no SMM (KVM_CAP_X86_SMM = 0; QEMU: {KVM_NO_SMM})"
    how = (f"killed by signal {-p.returncode}" if p.returncode < 0
           else f"exit {p.returncode}")
    tail = " | ".join(p.stderr.strip().splitlines()[-3:]) or "no message"
    raise KVMProbeError(f"QEMU with -accel kvm -machine q35,smm=on: {how}: {tail} "
                        f"(KVM_CAP_X86_SMM = {cap})")


def alive(g, what, timeout=None):
    """None if the guest prints a heartbeat within timeout, else why not.
    The default bound, 10 s, is multiplied by SMMHP_E2E_SMI_SCALE (tests/nested
    sets it: a heartbeat of a 4-CPU L2 guest takes seconds there)."""
    if timeout is None:
        timeout = 10.0 * float(os.environ.get("SMMHP_E2E_SMI_SCALE", "1"))
    if g.wait_line(r"E2E: HB", timeout, g.mark()):
        return None
    return f"the guest stopped {what} (no heartbeat in {timeout:.0f} s)"


def smram_range(qmp):
    """[start, end) of TSEG: the top extended-tseg-mbytes of RAM below 4 GiB
    (what OVMF selects)."""
    ram = qmp.cmd("query-memory-size-summary")["base-memory"]
    low = min(ram, 0x80000000)
    tseg = qmp.cmd("qom-get", path="/machine/q35/mch", property="extended-tseg-mbytes") << 20
    return low - tseg, low


def check_smbases(lines, smram):
    """The SMBASE the firmware set for each parked CPU (QEMU's parking
    trace, 'idx[0xN] SMBASE set to 0xS'): its SMI entry point and save
    state map (SMBASE + 0x8000 .. + 0x10000) in SMRAM, so not the default
    0x30000, and no two CPUs share one.  None, or why not."""
    by_cpu = {}
    for ln in lines:
        m = re.search(r"idx\[(0x[0-9a-f]+)\] SMBASE set to (0x[0-9a-f]+)", ln)
        if m:
            by_cpu.setdefault(int(m.group(1), 16), set()).add(int(m.group(2), 16))
    for cpu, bases in by_cpu.items():
        for b in bases:
            if not (smram[0] <= b + 0x8000 and b + 0x10000 <= smram[1]):
                return (f"CPU {cpu} got SMBASE {b:#x}: its SMRAM part {b + 0x8000:#x}.."
                        f"{b + 0x10000:#x} is not in SMRAM {smram[0]:#x}..{smram[1]:#x}")
        for other, obases in by_cpu.items():
            if other != cpu and bases & obases:
                return f"CPUs {cpu} and {other} got the same SMBASE {min(bases & obases):#x}"
    return None


def smi_counts(line):
    """{CPU: SMI count} from a heartbeat 'E2E: HB smi 0=N 1=M ...'."""
    return {int(c): int(n) for c, n in re.findall(r" (\d+)=(\d+)", line.split(" smi", 1)[-1])}


def smi_roundtrip(g, timeout=None):
    """Raise a broadcast SMI (APM_CNT 0 from the monitor) and check that
    every CPU, the hot-added ones too, took it (its SMI count, which the
    guest reads from MSR_SMI_COUNT in each heartbeat, went up) and came
    back (the guest goes on).  None, or why not.  The default bound, 15 s,
    is multiplied by SMMHP_E2E_SMI_SCALE (tests/nested sets it: an SMI
    rendezvous of several L2 vCPUs on one emulated L1 vCPU is slow)."""
    if timeout is None:
        timeout = 15.0 * float(os.environ.get("SMMHP_E2E_SMI_SCALE", "1"))
    ncpus = len(g.qmp.cmd("query-cpus-fast"))
    hit = g.wait_line(r"E2E: HB", timeout, g.mark())
    if not hit:
        return f"the guest stopped before the broadcast SMI (no heartbeat in {timeout:.0f} s)"
    before = smi_counts(hit[1].string)
    if len(before) != ncpus:
        return (f"the guest reports the SMI counts of {len(before)} CPUs ({hit[1].string!r}), "
                f"QEMU has {ncpus}")
    since = g.mark()
    out = g.qmp.cmd("human-monitor-command", **{"command-line": "o /b 0xb2 0"})
    if out.strip():
        return f"the monitor did not write APM_CNT: {out.strip()}"
    end = time.monotonic() + timeout
    after = None
    while True:
        hit = g.wait_line(r"E2E: (HB|READY)", end - time.monotonic(), since)
        if not hit or hit[1].group(1) != "HB":
            break
        since = hit[2] + 1
        after = smi_counts(hit[1].string)
        if all(after.get(c, 0) > n for c, n in before.items()):
            return None
    if hit and hit[1].group(1) == "READY":
        return "after a broadcast SMI the guest rebooted"
    if after is None:
        return f"after a broadcast SMI the guest stopped (no heartbeat in {timeout:.0f} s)"
    missed = [c for c, n in before.items() if after.get(c, 0) <= n]
    return (f"CPU(s) {', '.join(map(str, missed))} did not take the broadcast SMI: SMI counts "
            f"before {before}, {timeout:.0f} s after {after}")


def smi_freeze(g):
    """(longest gap between the guest's heartbeats around one broadcast SMI,
    None), or (None, why not).  Wants a heartbeat every poll (hb=1)."""
    hit = g.wait_line(r"E2E: HB smi 0=(\d+)", 10, g.mark())
    if not hit:
        return None, "no heartbeat before the SMI"
    before = int(hit[1].group(1))
    time.sleep(0.3)
    since = g.mark()
    t = time.monotonic()
    g.qmp.cmd("human-monitor-command", **{"command-line": "o /b 0xb2 0"})
    while True:
        hit = g.wait_line(r"E2E: HB smi 0=(\d+)", 15, since)
        if not hit:
            return None, "the guest stopped after the SMI (no heartbeat in 15 s)"
        since = hit[2] + 1
        if int(hit[1].group(1)) > before:
            break
    time.sleep(0.3)
    with g.cond:
        beats = [ts for ts, line in g.lines if line.startswith("E2E: HB")]
    # from the last heartbeat before the SMI on
    first = max([i for i, ts in enumerate(beats) if ts < t] or [0])
    beats = beats[first:]
    return max(b - a for a, b in zip(beats, beats[1:])), None


def device_add_cpu(qmp, slot, dev_id):
    args = {"driver": slot["type"], "id": dev_id}
    args.update(slot["props"])
    qmp.cmd("device_add", **args)


def run_scenario(qemu, fw, scenario, logdir=None, cpu_timeout=20.0,
                 boot_timeout=90.0, run=1):
    """Boot, hot-add/remove as the scenario says, time it, always clean up."""
    name = f"{fw}-{scenario}"
    res = Result(name)
    smp = SCENARIOS[scenario][1]
    if scenario == "soak":
        import soak
        kvm = FIRMWARE[fw].get("accel") == "kvm"
        return soak.run(qemu, fw, SOAK_CYCLES_KVM if kvm else SOAK_CYCLES, logdir=logdir,
                        cpu_timeout=cpu_timeout, boot_timeout=boot_timeout, name=name,
                        log=lambda m: None, rss_goal=False)
    # management's way to start a domain with hotpluggable vCPUs enabled:
    # -S, device_add, cont; those CPUs are cold CPUs to the firmware
    prelaunch = 2 if scenario == "prelaunch-add2" else 0
    append = ("e2e.s3rm=1" if scenario == "s3-unplug-hole" else
              f"e2e.onlinedelay={LATE_ONLINE_S}" if scenario == "add1-late-online" else
              "e2e.s3=3" if scenario.startswith("s3-") else "")
    try:
        g = Guest(qemu, fw, smp=smp, logdir=logdir, name=f"{name}-r{run}",
                  extra=(["-S"] if prelaunch else
                         ["-cpu", "qemu64,lmce=on"] if scenario == "add1-msr" else []),
                  append=append, hb=1 if scenario == "add1-late-online" else 20,
                  commands=scenario in RACE_SCENARIOS or scenario == "add1-msr")
    except FileNotFoundError as e:
        return res.fail(str(e))
    try:
        if prelaunch:
            g.connect()
            for k, slot in enumerate(free_slots(g.qmp)[:prelaunch]):
                try:
                    device_add_cpu(g.qmp, slot, f"pcpu{k}")
                except QMPError as e:
                    return res.fail(f"device_add of a CPU before the guest first ran "
                                    f"(-S) refused: {e.desc}")
                st = park_state(g, f"pcpu{k}")
                if st != 0:
                    return res.fail(f"a CPU added before the guest first ran is parked "
                                    f"(state {st}); it is a cold CPU")
            g.qmp.cmd("cont")
        hit = g.booted(res, boot_timeout)
        if not hit:
            return res
        want = int(smp.split(",")[0]) + prelaunch
        if int(hit[1].group(1)) != want:
            return res.fail(f"guest booted with {hit[1].group(1)} CPUs online, expected {want}")
        if not g.qmp:
            g.connect()
        res.features = negotiated_features(g.qmp)
        want_features = FIRMWARE[fw].get("expect_features")
        if want_features is not None and res.features != want_features:
            return res.fail(f"the firmware negotiated SMI features {res.features}, "
                            f"expected {want_features:#x}")
        slots = free_slots(g.qmp)
        count = 3 if scenario == "add3" else 1
        paused = scenario == "add1-paused"
        if len(slots) < count:
            return res.fail(f"only {len(slots)} free CPU slots")

        def add(slot, dev_id):
            t = time.monotonic()
            try:
                device_add_cpu(g.qmp, slot, dev_id)
            except QMPError as e:
                return None, f"device_add {dev_id} refused: {e.desc}"
            return t, None

        def add_online(dev_id, what):
            """Add one CPU into the lowest free slot and wait until the
            guest has it online; None, or why not."""
            since = g.mark()
            t, err = add(free_slots(g.qmp)[0], dev_id)
            if err:
                return f"{what}: {err}"
            hit = g.wait_line(r"E2E: CPU(\d+) ONLINE( FAILED)?", cpu_timeout, since)
            if not hit or hit[1].group(2):
                return res.fail(f"{what}: the CPU did not come online within "
                                f"{cpu_timeout:.0f} s", g.diagnose(since)).detail
            res.times.append(hit[0] - t)
            return None

        if scenario in RACE_SCENARIOS:
            import races
            return getattr(races, scenario.replace("-", "_"))(g, res, cpu_timeout)
        if scenario == "add1-late-online":
            return late_online(g, res, cpu_timeout)
        if scenario == "add1-msr":
            return feature_control(g, res, cpu_timeout)
        if scenario == "s3-unplug-hole":
            return s3_unplug_hole(g, res, want, cpu_timeout, boot_timeout)
        if scenario.startswith("s3-"):
            return s3_scenario(g, res, want, cpu_timeout, boot_timeout,
                               descending=scenario == "s3-desc")
        if FIRMWARE[fw].get("expect_stays_parked") or FIRMWARE[fw].get("expect_ejected"):
            return fault_scenario(g, res, slots[0], want, cpu_timeout)

        since = g.mark()
        starts = []
        refused = FIRMWARE[fw].get("expect_refused")
        for k in range(count):
            if paused:
                # device_add while the VM is stopped: the CPU is created
                # parked and must stay so until the guest runs again
                g.qmp.cmd("stop")
            t, err = add(slots[k], f"hcpu{k}")
            if paused and not err:
                if FIRMWARE[fw].get("expect_unparked"):
                    st = park_state(g, f"hcpu{k}")
                    if st != 1:
                        return res.fail(f"CPU added while stopped: park state {st}, expected 1")
                time.sleep(0.5)
                g.qmp.cmd("cont")
            if err and refused and refused in err:
                # the refusal is the expected outcome; the guest must go on
                if not g.wait_line(r"E2E: HB", 10, g.mark()):
                    return res.fail("guest stopped after the refused device_add",
                                    g.diagnose(since))
                if len(g.qmp.cmd("query-cpus-fast")) != want:
                    return res.fail("a CPU was added despite the refusal")
                res.ok = True
                res.detail = "device_add refused as expected: " + err
                return res
            if err:
                return res.fail(err)
            if refused:
                return res.fail(f"device_add of {slots[k]['props']} was accepted, "
                                f"expected a refusal containing {refused!r}")
            starts.append(t)
        # Each new CPU must come online; markers can come in any order.
        seen = {}
        idx = since
        deadline = starts[0] + cpu_timeout * count
        while len(seen) < count:
            hit = g.wait_line(r"E2E: CPU(\d+) ONLINE( FAILED)?", deadline - time.monotonic(), idx)
            if not hit:
                return res.fail(f"{count - len(seen)} of {count} hot-added CPU(s) never came "
                                f"online within {cpu_timeout * count:.0f} s of device_add",
                                g.diagnose(since))
            t, m, idx = hit
            idx += 1
            if m.group(2):
                return res.fail(f"guest could not online CPU{m.group(1)}", g.diagnose(since))
            seen[int(m.group(1))] = t
        res.times = [t - starts[0] for t in sorted(seen.values())]

        if scenario == "unplug-readd":
            cpu = max(seen)
            since = g.mark()
            t = time.monotonic()
            try:
                g.qmp.cmd("device_del", id="hcpu0")
            except QMPError as e:
                return res.fail(f"device_del refused: {e.desc}")
            hit = g.wait_line(rf"E2E: CPU{cpu} REMOVED", cpu_timeout, since)
            if not hit:
                return res.fail(f"CPU{cpu} was not removed within {cpu_timeout:.0f} s of "
                                f"device_del", g.diagnose(since))
            # The guest saw the removal; QEMU must have dropped the vCPU too.
            end = time.monotonic() + cpu_timeout
            while time.monotonic() < end:
                if len(g.qmp.cmd("query-cpus-fast")) == want:
                    break
                time.sleep(0.05)
            else:
                return res.fail("QEMU still lists the unplugged vCPU")
            res.unplug_times.append(hit[0] - t)
            err = add_online("hcpu0", "re-add")
            if err:
                return res.fail(err)

        if scenario == "add1-reboot":
            # reset leaves no CPU parked and clears the negotiation: the
            # hot-added CPU boots with the others, the firmware negotiates
            # again and the next hot-add works the same way
            since = g.mark()
            g.qmp.cmd("stop")
            g.qmp.cmd("system_reset")
            cleared = negotiated_features(g.qmp)
            if cleared != 0:
                return res.fail(f"system_reset left SMI features {cleared} negotiated")
            g.qmp.cmd("cont")
            hit = g.wait_line(r"E2E: READY ncpus=(\d+)", boot_timeout, since)
            if not hit:
                return res.fail(f"guest did not boot again within {boot_timeout:.0f} s of "
                                f"system_reset", g.diagnose(since))
            if int(hit[1].group(1)) != want + 1:
                return res.fail(f"after system_reset the guest booted with "
                                f"{hit[1].group(1)} CPUs online, expected {want + 1}")
            again = negotiated_features(g.qmp)
            if again != res.features:
                return res.fail(f"after system_reset the firmware negotiated {again}, "
                                f"before {res.features}")
            err = add_online("hcpu1", "hot-add after the reset")
            if err:
                return res.fail(err)
        if FIRMWARE[fw].get("expect_unparked"):
            err = smi_roundtrip(g)
            if err:
                return res.fail(err, g.diagnose(since))
            # every CPU went through set SMBASE + unpark, nothing was refused
            time.sleep(0.2)
            err = list(g.stderr)
            n = {k: sum(k in ln for ln in err)
                 for k in ("hot-added parked", "SMBASE set to", "unparked", "ignored:")}
            if not (n["hot-added parked"] == n["SMBASE set to"] == n["unparked"] ==
                    len(res.times)) or n["ignored:"]:
                return res.fail("QEMU's parking trace does not show one parked, SMBASE set, "
                                f"unparked per hot-added CPU ({len(res.times)}): {n}",
                                ["qemu stderr: " + ln for ln in err[-10:]])
            why = check_smbases(err, smram_range(g.qmp))
            if why:
                return res.fail(why, ["qemu stderr: " + ln for ln in err
                                      if "SMBASE set to" in ln])
        # whatever the firmware, the guest goes on after the last CPU
        why = alive(g, "after the last CPU came online")
        if why:
            return res.fail(why, g.diagnose(g.mark()))
        res.ok = True
        res.detail = ", ".join(f"{x:.2f} s" for x in res.times)
        return res
    except Exception as e:  # noqa: BLE001 - report, never hang or crash
        return g.harness_error(res, e)
    finally:
        g.close()


def fault_scenario(g, res, slot, want, cpu_timeout):
    """A hot-add that the firmware cannot complete (x-smi-parking-fault),
    twice into the same slot: the guest must never get the CPU and must go
    on; a CPU left parked is reported through ACPI_DEVICE_OST (status 1)
    and device_del removes it; a CPU that is not parked is ejected by the
    firmware.  The second time shows that the firmware gave back the SMM
    CPU slot it had taken for the first: had it kept the slot, it would
    take the CPU (same APIC ID) for one it knows and skip it, and the
    guest would get a CPU that SMM never relocated."""
    for attempt in range(2):
        failed = fault_attempt(g, slot, want, cpu_timeout, f"hcpu{attempt}")
        if failed:
            why, diag = failed
            return res.fail(f"second hot-add into the slot: {why}" if attempt else why, diag)
    if g.fw.get("expect_stays_parked"):
        res.detail = ("twice: stayed parked, ACPI_DEVICE_OST status 1, "
                      "removed by device_del")
    else:
        res.detail = "twice: not parked: ejected by the firmware, the guest went on"
    res.ok = True
    return res


def fault_attempt(g, slot, want, cpu_timeout, dev):
    """One hot-add of fault_scenario(); None, or (why it failed, diagnosis
    lines)."""
    fw = g.fw
    since = g.mark()
    try:
        device_add_cpu(g.qmp, slot, dev)
    except QMPError as e:
        return f"device_add refused: {e.desc}", ()
    if fw.get("expect_stays_parked"):
        end = time.monotonic() + cpu_timeout
        ost = None
        while time.monotonic() < end and ost is None:
            g.qmp.poll_events()
            ost = next((e for e in g.qmp.events if e.get("event") == "ACPI_DEVICE_OST"
                        and e["data"]["info"].get("device") == dev), None)
            time.sleep(0.1)
        if ost is None:
            return (f"no ACPI_DEVICE_OST for {dev} within {cpu_timeout:.0f} s of device_add",
                    g.diagnose(since))
        info = ost["data"]["info"]
        if info.get("status") != 1:
            return f"ACPI_DEVICE_OST reports {info}, expected {dev} with status 1", ()
        if park_state(g, dev) == 0:
            return "the CPU is not parked any more", ()
    else:
        end = time.monotonic() + cpu_timeout
        while time.monotonic() < end and len(g.qmp.cmd("query-cpus-fast")) != want:
            time.sleep(0.1)
        if len(g.qmp.cmd("query-cpus-fast")) != want:
            return (f"the firmware did not eject the CPU within {cpu_timeout:.0f} s",
                    g.diagnose(since))
    time.sleep(2)
    if g.wait_line(r"E2E: CPU(\d+) ONLINE", 0, since):
        return "the guest onlined the CPU", g.diagnose(since)
    why = alive(g, "after the failed hot-add")
    if why:
        return why, g.diagnose(since)
    if fw.get("expect_stays_parked"):
        try:
            g.qmp.cmd("device_del", id=dev)
        except QMPError as e:
            return f"device_del of the parked CPU refused: {e.desc}", ()
        if len(g.qmp.cmd("query-cpus-fast")) != want:
            return "device_del did not remove the parked CPU at once", ()
    return None


def park_state(g, dev_id):
    return g.qmp.cmd("qom-get", path=f"/machine/peripheral/{dev_id}",
                     property="x-hotplug-park")


def wait_status(g, want, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if g.qmp.cmd("query-status")["status"] == want:
            return True
        time.sleep(0.1)
    return False


# add1-late-online: the guest onlines a hot-added CPU this long after it
# appears (e2e.onlinedelay); meanwhile the CPU waits for SIPI
LATE_ONLINE_S = 6
# a broadcast SMI may freeze the guest this long at most while a hot-added
# CPU waits for SIPI: below OVMF's AP sync timeout (1 s), which the SMI
# rendezvous would wait out (twice) if it waited for that CPU
LATE_ONLINE_MAX_FREEZE = 0.9


def late_online(g, res, cpu_timeout):
    """A hot-added CPU that the guest leaves offline for a while (as Debian
    does until an administrator onlines it): unparked by the firmware, it
    waits for SIPI and holds every broadcast SMI pending; such an SMI must
    not freeze the guest for the firmware's AP sync timeouts.  Then the
    guest onlines it, and it takes SMIs like any other CPU."""
    since = g.mark()
    secs, err = hot_add(g, "hcpu0", cpu_timeout, r"E2E: CPU(\d+) PRESENT")
    if err:
        return res.fail(err, g.diagnose(since))
    res.times.append(secs)
    gaps = []
    for _ in range(2):
        gap, err = smi_freeze(g)
        if err:
            return res.fail(err, g.diagnose(since))
        gaps.append(gap)
    if max(gaps) > LATE_ONLINE_MAX_FREEZE:
        return res.fail(f"with a hot-added CPU the OS has not started, broadcast SMIs "
                        f"froze the guest for {', '.join(f'{x:.2f}' for x in gaps)} s "
                        f"(at most {LATE_ONLINE_MAX_FREEZE} s): SMM waited for the CPU")
    if not g.wait_line(r"E2E: CPU(\d+) ONLINE ncpus", LATE_ONLINE_S + cpu_timeout, since):
        return res.fail("the guest did not online the CPU", g.diagnose(since))
    err = smi_roundtrip(g)
    if err:
        return res.fail(err, g.diagnose(since))
    why = alive(g, "after the late online")
    if why:
        return res.fail(why, g.diagnose(g.mark()))
    res.ok = True
    res.detail = "SMI freeze while offline " + ", ".join(f"{x:.2f} s" for x in gaps)
    return res


def feature_control(g, res, cpu_timeout):
    """The firmware writes MSR_IA32_FEATURE_CONTROL on every CPU it starts,
    with the value of QEMU's etc/msr_feature_control (here LOCKED | LMCE);
    a hot-added CPU must have it too: the OS expects the same MSR state on
    every CPU (Windows with SGX crashes otherwise, edk2 issue 11188)."""
    since = g.mark()
    secs, err = hot_add(g, "hcpu0", cpu_timeout)
    if err:
        return res.fail(err, g.diagnose(since))
    res.times.append(secs)
    out = g.command("state", cpu_timeout)
    m = re.search(r" online=([\d,]*) .* fc=([\w:,?]*)$", out or "")
    if not m:
        return res.fail(f"the guest's 'state' has no MSR values: {out!r}",
                        g.diagnose(since))
    fc = dict(p.split(":") for p in m.group(2).split(",") if p)
    online = [c for c in m.group(1).split(",") if c]
    if sorted(fc) != sorted(online) or "?" in fc.values():
        return res.fail(f"MSR_IA32_FEATURE_CONTROL not read on every online CPU "
                        f"(online {m.group(1)}, read {m.group(2)})")
    boot = int(fc["0"], 16)
    if boot == 0:
        return res.fail("MSR_IA32_FEATURE_CONTROL 0x0 on the boot CPU: the firmware wrote "
                        "none (no etc/msr_feature_control?)")
    for cpu, v in sorted(fc.items()):
        if int(v, 16) != boot:
            return res.fail(f"MSR_IA32_FEATURE_CONTROL {int(v, 16):#x} on the hot-added CPU "
                            f"{cpu}, {boot:#x} on the boot CPU")
    why = alive(g, "after the hot-add")
    if why:
        return res.fail(why, g.diagnose(g.mark()))
    res.ok = True
    res.detail = f"MSR_IA32_FEATURE_CONTROL {boot:#x} on CPUs {m.group(1)}"
    return res


def hot_add(g, dev_id, cpu_timeout, pattern=r"E2E: CPU(\d+) ONLINE( FAILED)?"):
    """device_add into the lowest free slot; (seconds until the guest's line
    matching pattern, None), or (None, why not)."""
    since = g.mark()
    t = time.monotonic()
    try:
        device_add_cpu(g.qmp, free_slots(g.qmp)[0], dev_id)
    except QMPError as e:
        return None, f"device_add {dev_id} refused: {e.desc}"
    hit = g.wait_line(pattern, cpu_timeout, since)
    if not hit or (hit[1].re.groups > 1 and hit[1].group(2)):
        return None, f"{dev_id} did not come up within {cpu_timeout:.0f} s"
    return hit[0] - t, None


def unplug(g, dev_id, cpu_timeout):
    """device_del of a CPU; None once the guest has seen it go (Linux
    numbers hot-added CPUs in the order it sees them, not by APIC ID, so any
    CPU's REMOVED line counts), else why not."""
    since = g.mark()
    try:
        g.qmp.cmd("device_del", id=dev_id)
    except QMPError as e:
        return f"device_del {dev_id} refused: {e.desc}"
    if not g.wait_line(r"E2E: CPU\d+ REMOVED", cpu_timeout, since):
        return f"{dev_id} was not removed"
    return None


def wakeup(g, ncpus, boot_timeout):
    """system_wakeup of a guest suspended to RAM; None once it says it is
    back with ncpus CPUs online, else why not."""
    since = g.mark()
    g.qmp.cmd("system_wakeup")
    hit = g.wait_line(r"E2E: RESUMED rc=(\d+) ncpus=(\d+)", boot_timeout, since)
    if not hit:
        return f"the guest did not resume within {boot_timeout:.0f} s of system_wakeup"
    if hit[1].group(1) != "0" or int(hit[1].group(2)) != ncpus:
        return (f"after the resume: write status {hit[1].group(1)}, "
                f"{hit[1].group(2)} CPUs online, expected {ncpus}")
    return None


def s3_finish(g, res, since, what):
    """The end of an S3 scenario: a broadcast SMI reaches every CPU, every
    SMBASE lies in SMRAM, the guest goes on."""
    err = smi_roundtrip(g)
    if err:
        return res.fail(err, g.diagnose(since))
    why = check_smbases(list(g.stderr), smram_range(g.qmp))
    if why:
        return res.fail(why)
    why = alive(g, what)
    if why:
        return res.fail(why, g.diagnose(g.mark()))
    res.ok = True
    res.detail = f"{len(g.qmp.cmd('query-cpus-fast'))} vCPUs, " + \
        ", ".join(f"{x:.2f} s" for x in res.times)
    return res


def s3_scenario(g, res, want, cpu_timeout, boot_timeout, descending):
    """S3 with parking: hot-add two CPUs (in APIC ID order, or with
    @descending highest first, so that SMM's slot order differs from APIC
    order), the guest suspends itself once three CPUs are online
    (e2e.s3=3), a third CPU is hot-added while it is suspended (it must
    stay parked through the resume, hidden from the firmware's count),
    system_wakeup; the CPU added while suspended comes online on the OS's
    next scan; then the second CPU is unplugged and added again; every CPU
    must come online and take a broadcast SMI."""
    slots = free_slots(g.qmp)
    if descending:
        slots.reverse()
    if len(slots) < 3:
        return res.fail(f"only {len(slots)} free CPU slots")

    def online(dev_id, slot, since):
        t = time.monotonic()
        try:
            device_add_cpu(g.qmp, slot, dev_id)
        except QMPError as e:
            return f"device_add {dev_id} refused: {e.desc}"
        hit = g.wait_line(r"E2E: CPU(\d+) ONLINE( FAILED)?", cpu_timeout, since)
        if not hit or hit[1].group(2):
            return f"{dev_id} did not come online within {cpu_timeout:.0f} s"
        res.times.append(hit[0] - t)
        return None

    since = g.mark()
    for k in (0, 1):
        err = online(f"hcpu{k}", slots[k], g.mark())
        if err:
            return res.fail(err, g.diagnose(since))
    hit = g.wait_line(r"E2E: SUSPEND ncpus=(\d+)", cpu_timeout, since)
    if not hit or not wait_status(g, "suspended", cpu_timeout):
        return res.fail("the guest did not suspend to RAM", g.diagnose(since))
    try:
        device_add_cpu(g.qmp, slots[2], "hcpu2")
    except QMPError as e:
        return res.fail(f"device_add while suspended refused: {e.desc}")
    if park_state(g, "hcpu2") != 1:
        return res.fail("a CPU added while suspended is not parked")
    since = g.mark()
    err = wakeup(g, want + 2, boot_timeout)
    if err:
        return res.fail(err, g.diagnose(since))
    # the CPU added while suspended: still parked, or (the OS scans on the
    # GPE that QEMU raises again after the wakeup) unparked and onlined
    if park_state(g, "hcpu2") == 0 and not g.wait_line(r"E2E: CPU(\d+) ONLINE",
                                                       cpu_timeout, since):
        return res.fail("the CPU added while suspended was unparked but did not "
                        "come online", g.diagnose(since))
    # unplug the lower APIC ID of the first two, add it again
    since = g.mark()
    err = unplug(g, "hcpu1", cpu_timeout)
    if err:
        return res.fail(err + " after the resume", g.diagnose(since))
    since = g.mark()
    err = online("hcpu1", slots[1], since)
    if err:
        return res.fail(err, g.diagnose(since))
    end = time.monotonic() + cpu_timeout
    while time.monotonic() < end and park_state(g, "hcpu2") != 0:
        time.sleep(0.2)
    if park_state(g, "hcpu2") != 0:
        return res.fail("the CPU added while suspended stayed parked after the next "
                        "hot-add's scan", g.diagnose(since))
    return s3_finish(g, res, since, "after S3 and the hot-adds")


def s3_unplug_hole(g, res, want, cpu_timeout, boot_timeout):
    """S3 with a hole in SMM's CPU slots: hot-add two CPUs (SMM slots 1 and
    2), unplug the first, so that slots 0 and 2 are taken and the firmware
    counts 2 CPUs; the guest suspends once it is gone (e2e.s3rm=1),
    system_wakeup; the firmware's first SMI on resume must wait for slots 0
    and 2, not 0 and 1. Then a hot-add refills slot 1; it must come online
    and every CPU take a broadcast SMI."""
    for k in (0, 1):
        since = g.mark()
        secs, err = hot_add(g, f"hcpu{k}", cpu_timeout)
        if err:
            return res.fail(err, g.diagnose(since))
        res.times.append(secs)
    since = g.mark()
    err = unplug(g, "hcpu0", cpu_timeout)
    if err:
        return res.fail(err, g.diagnose(since))
    if not g.wait_line(r"E2E: SUSPEND ncpus=(\d+)", cpu_timeout, since) or \
            not wait_status(g, "suspended", cpu_timeout):
        return res.fail("the guest did not suspend to RAM", g.diagnose(since))
    since = g.mark()
    err = wakeup(g, want + 1, boot_timeout)
    if err:
        return res.fail(err, g.diagnose(since))
    since = g.mark()
    secs, err = hot_add(g, "hcpu2", cpu_timeout)
    if err:
        return res.fail(err + " after the resume", g.diagnose(since))
    res.times.append(secs)
    return s3_finish(g, res, since, "after S3 and the hot-add")


# name -> (description, -smp at boot)
SCENARIOS = {
    "add1": ("hot-add 1 CPU", "1,maxcpus=4"),
    "add3": ("hot-add 3 CPUs back to back", "1,maxcpus=4"),
    "unplug-readd": ("hot-add 1 CPU, unplug it, add it again", "1,maxcpus=4"),
    "add1-reboot": ("hot-add 1 CPU, reset, boot with it, hot-add another", "1,maxcpus=4"),
    "add1-paused": ("hot-add 1 CPU while the VM is stopped, then continue", "1,maxcpus=4"),
    "smp2-add1": ("boot with 2 CPUs, hot-add 1", "2,maxcpus=4"),
    "smp4-add1": ("boot with 4 CPUs, hot-add 1", "4,maxcpus=8"),
    "prelaunch-add2": ("start paused (-S), device_add 2 CPUs, cont; hot-add 1 more",
                       "1,maxcpus=4"),
    # maxcpus=5: TCG gives out one context per vCPU thread ever created and
    # never takes one back, up to maxcpus (tcg_register_thread() asserts);
    # 3 hot-adds and a re-add after an unplug make 5 threads
    "s3-asc": ("hot-add 2 CPUs; S3; device_add while suspended; wakeup; "
               "unplug one, re-add; SMI round trip", "1,maxcpus=5"),
    # s3-desc: SMM's slots are then out of APIC ID order; the relocation
    # on resume must follow SMM's slot table (LockBox), not APIC ID order
    "s3-desc": ("s3-asc with the first 2 CPUs hot-added highest APIC ID first",
                "1,maxcpus=5"),
    # s3-unplug-hole: 4 vCPU threads under TCG, see above
    "s3-unplug-hole": ("hot-add 2 CPUs, unplug the first; S3; wakeup; "
                       "hot-add; SMI round trip", "1,maxcpus=4"),
    "add1-late-online": ("hot-add 1 CPU that the guest onlines only after "
                         f"{LATE_ONLINE_S} s; broadcast SMIs meanwhile", "1,maxcpus=4"),
    # tests/e2e/races.py
    "add3-in-smi": ("stop the VM while the guest is inside an SMI, device_add 3 CPUs, "
                    "continue", "1,maxcpus=4"),
    "slot-race": ("device_add, device_del, device_add into the same slot at once; "
                  "5 rounds", "1,maxcpus=4"),
    # -cpu qemu64,lmce=on: QEMU's etc/msr_feature_control is LOCKED | LMCE
    "add1-msr": ("hot-add 1 CPU (lmce=on): every online CPU has the boot CPU's "
                 "MSR_IA32_FEATURE_CONTROL", "1,maxcpus=4"),
    # tests/e2e/soak.py (make soak runs the long version)
    "soak": ("hot-add/remove soak on one guest, short: 20 cycles (KVM: 10)",
             "1,sockets=1,cores=8,threads=1,maxcpus=8"),
}
RACE_SCENARIOS = ("add3-in-smi", "slot-race")
SOAK_CYCLES = 20
SOAK_CYCLES_KVM = 10
# run only for the firmware that lists them in "scenarios" (or by name)
EXPLICIT_SCENARIOS = ("prelaunch-add2", "s3-asc", "s3-desc", "s3-unplug-hole",
                      "add1-late-online", "add1-msr") + RACE_SCENARIOS + ("soak",)


# scenarios run for the firmware variants that only flip a property
VARIANT_SCENARIOS = ("add1", "unplug-readd")


def all_names():
    names = []
    for fw, f in FIRMWARE.items():
        for sc in SCENARIOS:
            if "scenarios" in f:
                if sc in f["scenarios"]:
                    names.append(f"{fw}-{sc}")
            elif sc in EXPLICIT_SCENARIOS:
                continue
            elif "expect_refused" in f:
                if sc == "add1":
                    names.append(f"{fw}-{sc}")
            elif "extra" not in f or sc in VARIANT_SCENARIOS:
                names.append(f"{fw}-{sc}")
    return names


def split_name(name):
    for fw in FIRMWARE:
        if name.startswith(fw + "-") and name[len(fw) + 1:] in SCENARIOS:
            return fw, name[len(fw) + 1:]
    raise ValueError(f"unknown scenario {name!r}; known: {', '.join(all_names())}")


def median(xs):
    return statistics.median(xs) if xs else None
