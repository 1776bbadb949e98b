# SPDX-License-Identifier: GPL-2.0-or-later
#
# Entry points.  Caches live in $(SMMHP_CACHE) (default ~/.cache/smm-hotplug).
#   make demo      build what is missing, boot an SMM guest on our OVMF with
#                  parking, hot-add CPUs
#   make check     build what is missing (also Debian's unpatched QEMU, the
#                  old side of a migration test, and the fuzzing QEMU), run
#                  every test; last line
#                  'N passed, M failed, K skipped'
#   make qemu      fetch + patch + build QEMU (incremental)
#   make ovmf      fetch + patch + build OVMF_CODE_4M.secboot.fd like Debian
#   make guest     kernel + initramfs for the end-to-end tests
#   make testfw    the freestanding test firmware
#   make e2e E2E='ovmf-smm-add1 ...'   end-to-end scenarios by name (E2E_RUNS=N)
#   make e2e-list  list the scenario names
#   make nested    the KVM cases in a nested L1 guest (our QEMU under TCG),
#                  for hosts whose KVM has no SMM; all of them, or
#                  NESTED='kvm/parking ovmf-parking-kvm-add3' (NESTED=--list)
#   make qemu-fuzz the same QEMU built with clang, libFuzzer, ASan and UBSan
#                  (build/qemu-fuzz in the cache); about 10 minutes cold
#   make fuzz      fuzz the SMI / SMM CPU hotplug surface (tests/fuzz/run.py):
#                  FUZZ_TIME seconds per target (default 600), or FUZZ_RUNS
#                  executions, FUZZ_JOBS processes; FUZZ='smm-cpu-hotplug'
#                  for one target
#   make soak      hot-add/remove soak on one live guest (tests/e2e/soak.py):
#                  SOAK_CYCLES (default 200), SOAK_SEED to repeat a run,
#                  SOAK_FW=ovmf-parking-kvm for KVM (where it has SMM)
#   make libvirt   libvirt (a running libvirtd) defines, starts and grows
#                  with 'virsh setvcpus' a Secure Boot domain on the machine
#                  type pc-q35-10.0-smm-hotplug (tests/libvirt/run.py)
#   make mutations remove, one at a time, the checks the hardening tests
#                  guard, and show each test fails (MUTATIONS='name ...',
#                  MUTATIONS=--list); about 10 minutes
#   make check-patches   every patch applies exactly (no fuzz)
#   make checkpatch      QEMU's checkpatch.pl on every patch of the QEMU series
#   make rebuild-aml     regenerate our expected ACPI tables (QEMU's rebuild mode)
#   make bench     hot-add latency, ours vs Debian's unpatched QEMU (same run);
#                  cost of the hotplug SMI that unparks a CPU vs a plain SMI;
#                  SMM hot-add (stock OVMF, ours legacy, ours parking) vs no
#                  SMM: add 1, burst of 3, fill to 8, SMI freeze, PNG plot
#   make bench-smm only the last (BENCH_RUNS=5); about 17 minutes

SHELL := /bin/sh
PY := python3

.PHONY: demo check setup qemu qemu-baseline guest testfw e2e e2e-list check-patches \
	checkpatch bench bench-smm rebuild-aml ovmf nested mutations qemu-fuzz fuzz soak \
	libvirt

setup:
	@sh scripts/setup-host.sh

qemu: setup
	@SMMHP_SKIP_SETUP=1 sh scripts/build-qemu.sh

qemu-fuzz: qemu
	@SMMHP_SKIP_SETUP=1 SMMHP_FUZZ=1 sh scripts/build-qemu.sh

fuzz: qemu-fuzz
	@$(PY) tests/fuzz/run.py $(if $(FUZZ_RUNS),--runs $(FUZZ_RUNS),--time $(or $(FUZZ_TIME),600)) \
	  --jobs $(or $(FUZZ_JOBS),1) $(FUZZ)

soak: qemu ovmf guest
	@$(PY) tests/e2e/soak.py --cycles $(or $(SOAK_CYCLES),200) --fw $(or $(SOAK_FW),ovmf-parking) \
	  --heap $(if $(SOAK_SEED),--seed $(SOAK_SEED))

qemu-baseline: setup
	@SMMHP_SKIP_SETUP=1 SMMHP_BASELINE=1 sh scripts/build-qemu.sh

bench: qemu qemu-baseline ovmf guest testfw
	@$(PY) bench/hotplug.py --runs $(or $(BENCH_RUNS),5)
	@$(PY) bench/parking_smi.py --boots $(or $(BENCH_RUNS),5)
	@$(MAKE) --no-print-directory bench-smm

bench-smm: qemu ovmf guest
	@command -v gnuplot >/dev/null || { echo "bench: installing gnuplot-nox for the plot"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	  gnuplot-nox >/dev/null; }
	@$(PY) bench/smm_hotplug.py --runs $(or $(BENCH_RUNS),5)

ovmf: setup
	@sh scripts/build-ovmf.sh

guest: setup
	@sh scripts/mkguest.sh

testfw:
	@$(MAKE) -s -C testfw

demo: qemu ovmf guest
	@$(PY) tests/demo.py $(DEMO_ARGS)

check: qemu qemu-baseline qemu-fuzz ovmf guest testfw
	@$(PY) tests/run-all.py $(CHECK_ARGS)

e2e: qemu guest
	@$(PY) tests/e2e/run.py --runs $(or $(E2E_RUNS),1) $(E2E)

e2e-list:
	@$(PY) tests/e2e/run.py --list

nested: qemu ovmf guest testfw
	@$(PY) tests/nested/run.py $(NESTED)

# libvirt accepts pc-q35-10.0-smm-hotplug as is (needs a running libvirtd
# with the QEMU driver; not in check)
libvirt: qemu ovmf guest
	@$(PY) tests/libvirt/run.py

mutations: qemu ovmf guest testfw
	@$(PY) tests/mutations/run.py $(MUTATIONS)

check-patches:
	@sh scripts/patches.sh qemu check
	@sh scripts/patches.sh ovmf check

checkpatch:
	@sh scripts/checkpatch.sh

rebuild-aml: qemu
	@sh scripts/rebuild-aml.sh
