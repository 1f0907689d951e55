"""Hardening round three (issue 19): each attack of the review, proven to fail on the code
before its fix, and every parser fed N and 4N bytes of its worst shape."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from auditor.model import HostInfo, Report, Status, epoch, mark_stale
from auditor.parsers import (
    acpi,
    bootconfig,
    cmdline,
    kconfig,
    kernel_log,
    libvirt,
    modprobe,
    procfs,
    qemu,
    selinux,
)
from auditor.sources.secrets import redact_secrets, scrub_boot
from tests.hostile.builders import END, MiB, copy_root, header, member, run, snapshot_archive, write
from tests.hostile.builders import manifest as manifest_bytes

# -- every parser linear: N and 4N bytes of its worst shape ---------------------------------


def _seconds(parse, text) -> float:
    """The processor time of the best of five runs, with the garbage collector paused: a
    parser that builds 64K records triggers full collections whose cost depends on
    everything else alive in the process, not on the parser (a quadratic parser shows 16x
    for 4N either way). Processor time, not the clock's: on a busy machine a short run
    fits in one time slice and a long one is shared with every other process, which made
    a linear parser look quadratic."""
    import gc

    best = float("inf")
    gc.collect()
    gc.disable()
    try:
        for _ in range(5):
            start = time.process_time()
            parse(text)
            best = min(best, time.process_time() - start)
    finally:
        gc.enable()
    return best


SHAPES = {
    # One argument after another: the old tokenizer copied the rest of the line each time.
    "cmdline": (cmdline.parse_cmdline, lambda n: "a=b " * (n // 4)),
    "cmdline quotes": (cmdline.parse_cmdline, lambda n: 'x="' + "a " * (n // 2)),
    # An unclosed `${` again and again: the old scan looked for `}` to the end each time.
    "shell unclosed ${": (
        bootconfig.parse_shell_assignments,
        lambda n: "A=" + "${A=" * (n // 4) + "\n",
    ),
    "shell ${ one close": (
        bootconfig.parse_shell_assignments,
        lambda n: 'A="' + "${x " * (n // 4) + '}"\n',
    ),
    "shell many lines": (bootconfig.parse_shell_assignments, lambda n: 'A="$A x"\n' * (n // 9)),
    "grub.cfg": (bootconfig.parse_grub_cfg, lambda n: "set a=${a}\nlinux /v ${a} ro\n" * (n // 28)),
    "bls": (
        lambda t: bootconfig.parse_bls_entry(t, {}),
        lambda n: "options " + "$kernelopts " * (n // 12) + "\n",
    ),
    "legacy grub.conf": (
        bootconfig.parse_legacy_grub_conf,
        lambda n: "title t\n\tkernel /v ro x\n" * (n // 24),
    ),
    "grubenv": (bootconfig.parse_grubenv, lambda n: "k=v\n" * (n // 4)),
    "modprobe options": (
        modprobe.parse_modprobe_conf,
        lambda n: "options m " + "a=b " * (n // 4) + "\n",
    ),
    "modprobe continued": (modprobe.parse_directives, lambda n: "softdep m pre: \\\n" * (n // 16)),
    "kconfig": (kconfig.parse_kconfig, lambda n: "CONFIG_X=y\n" * (n // 11)),
    "interrupts": (
        procfs.interrupt_chips,
        lambda n: "  CPU0\n" + " 1: 0 IR-PCI-MSI 1-edge x\n" * (n // 26),
    ),
    "cpuinfo": (procfs.cpu_flags, lambda n: "flags\t: " + "vmx " * (n // 4) + "\n"),
    "stat": (procfs.boot_time, lambda n: "cpu 1 2 3\n" * (n // 10) + "btime 1700000000\n"),
    "sestatus": (
        lambda t: selinux.parse_sestatus(t),
        lambda n: "virt_use_sysfs   on\n" * (n // 20),
    ),
    "dmesg": (kernel_log.parse_dmesg, lambda n: "[    0.100000] DMAR: x\n" * (n // 22)),
    "kmsg records": (
        lambda t: [kernel_log.parse_kmsg_record(r) for r in t.split(b"\n\n")],
        lambda n: b"6,1,0,-;x\\x41\\x42 DMAR\n\n" * (n // 28),
    ),
    "domain xml": (
        libvirt.parse_domain,
        lambda n: (
            "<domain><name>g</name><devices>"
            + "<hostdev mode='subsystem' type='pci'><source><address domain='0' bus='1' slot='0' function='0'/></source></hostdev>"
            * (n // 110)
            + "</devices></domain>"
        ),
    ),
    "domain xml hugepages": (
        libvirt.parse_domain,
        lambda n: (
            "<domain><name>g</name><memory unit='G'>4</memory><memoryBacking><hugepages>"
            + "<page size='2' unit='M' nodeset='0'/>" * (n // 38)
            + "</hugepages></memoryBacking></domain>"
        ),
    ),
    "qemu argv": (
        lambda argv: qemu.parse_qemu(1, argv),
        lambda n: (
            ["/usr/bin/qemu-system-x86_64"] + ["-device", "vfio-pci,host=0000:01:00.0"] * (n // 40)
        ),
    ),
    # Secret-named values redacted in every report and snapshot: names, quotes and
    # unclosed quotes again and again.
    "secrets names": (redact_secrets, lambda n: "a." * (n // 2) + "pass"),
    "secrets words": (redact_secrets, lambda n: "pass" * (n // 4)),
    "secrets unclosed": (redact_secrets, lambda n: 'password="' * (n // 10)),
    "grub password lines": (scrub_boot, lambda n: b"\n" * n + b"x"),
    "dmar table": (lambda data: _decode(acpi.decode_dmar, data), lambda n: _dmar(n)),
    "kernel log rules": (
        lambda t: kernel_log.completeness(kernel_log.parse_dmesg(t), None),
        lambda n: "Linux version 6.1 x\n" * (n // 20),
    ),
}


def _decode(decode, data):
    try:
        return decode(data)
    except ValueError:
        return None


def _dmar(size: int) -> bytes:
    """A DMAR table of `size` bytes: header, then DRHD structures of 16 bytes each."""
    import struct

    body = b"".join(
        struct.pack("<HHBBHQ", 0, 16, 0, 0, 0, 0xFED90000) for _ in range((size - 48) // 16)
    )
    header = bytearray(b"DMAR" + struct.pack("<I", 48 + len(body)) + bytes(40))
    header[36] = 38
    table = bytearray(header + body)
    table[9] = (-sum(table)) % 256
    return bytes(table)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_parser_is_linear(name):
    parse, shape = SHAPES[name]
    small, large = shape(64 << 10), shape(256 << 10)
    first = _seconds(parse, small)
    second = _seconds(parse, large)
    assert second < first * 6 + 0.02, f"{name}: {first:.4f}s for N, {second:.4f}s for 4N"


def test_resolving_a_link_into_missing_folders_is_linear(tmp_path):
    """A link whose target names folders that are not there, 1,000 and 4,000 bytes of it
    (a link target is at most 4,095: PATH_MAX). Opening each level from the root down again
    made it cubic: ten seconds an audit for 2,000 folders."""
    from auditor.sources.rootfs import Resolver, RootFS

    def resolve(target: str) -> None:
        root = tmp_path / str(len(target))
        (root / "etc").mkdir(parents=True, exist_ok=True)
        if not (root / "etc/deep.conf").is_symlink():
            (root / "etc/deep.conf").symlink_to(target)
        with RootFS(str(root)) as fs:
            assert Resolver(fs.link_target).resolve("/etc/deep.conf").endswith("/a/x.conf")

    first = _seconds(resolve, "a/" * 500 + "x.conf")
    second = _seconds(resolve, "a/" * 2000 + "x.conf")
    assert second < first * 6 + 0.02, f"{first:.4f}s for N, {second:.4f}s for 4N"


def test_links_into_a_deep_tree_stop_at_4096_bytes(tmp_path):
    """Real folders 25 deep with names of 200 bytes: a link to the 20th (a 4,020-byte
    target), and there a link 5 further. Links that each lead deeper would grow the resolved
    path, and every path remembered on the way, with every link; beyond 4,096 bytes the
    lookup is refused."""
    from auditor.sources.rootfs import PathTooLongError, Resolver, RootFS

    name = "d" * 200
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        for level in range(1, 26):  # by descriptor: the whole path is beyond PATH_MAX
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
            if level == 20:
                os.symlink("/".join([name] * 5), "more", dir_fd=fd)
    finally:
        os.close(fd)
    os.symlink("/".join([name] * 20), tmp_path / "start")
    with RootFS(str(tmp_path)) as fs:
        resolver = Resolver(fs.link_target)
        assert resolver.resolve("/start") == "/" + "/".join([name] * 20)
        with pytest.raises(PathTooLongError, match="resolves to more than 4096 bytes"):
            resolver.resolve("/start/more/x")


# -- 2. a 1 MiB /proc/cmdline in a snapshot ------------------------------------------------


def test_a_huge_command_line_is_audited_in_seconds(tmp_path):
    root = copy_root("intel-ready", tmp_path / "root")
    write(root / "proc/cmdline", "a=b " * (3 * MiB // 4) + "intel_iommu=on\n")
    write(root / "etc/modprobe.d/big.conf", ("options vfio-pci " + "a=b " * (MiB // 8) + "\n"))
    done = run("audit", "--root", str(root), "--format", "json", seconds=30)
    assert not done.crashed and done.code in (0, 1, 3), done


# -- 3. GRUB environments that add up ------------------------------------------------------


def test_many_grub_variables_are_capped_as_a_whole(tmp_path):
    root = copy_root("reboot-pending", tmp_path / "root")
    value = "x" * 4000
    write(
        root / "etc/default/grub", f'A="{value}"\n' + "".join(f'b{i}="$A"\n' for i in range(250000))
    )
    for index in range(3):
        write(
            root / f"etc/default/grub.d/{index}.cfg",
            "".join(f'c{index}_{i}="$A"\n' for i in range(50000)),
        )
    done = run("audit", "--root", str(root), "--format", "json", memory=512 * MiB, seconds=60)
    assert not done.crashed and done.code in (0, 1, 3), done
    persistent = next(
        r for r in json.loads(done.stdout)["results"] if r["id"] == "iommu.cmdline-persistent"
    )
    assert bootconfig.ENVIRONMENT_FULL in persistent["message"]


def test_the_environment_cap_keeps_what_came_before():
    cut: set[str] = set()
    text = 'GRUB_CMDLINE_LINUX="intel_iommu=on"\n' + "".join(
        f'b{i}="{"x" * 4000}"\n' for i in range(200)
    )
    values = bootconfig.parse_shell_assignments(text, cut=cut)
    assert values["GRUB_CMDLINE_LINUX"] == "intel_iommu=on"
    assert cut == {bootconfig.ENVIRONMENT_FULL}
    assert sum(len(k) + len(v) for k, v in values.items()) <= bootconfig.MAX_ENVIRONMENT


# -- 4. an unclosed ${ in a snapshot's /etc/default/grub -----------------------------------


def test_an_unclosed_brace_chain_is_parsed_in_seconds(tmp_path):
    root = copy_root("reboot-pending", tmp_path / "root")
    write(root / "etc/default/grub", "A=" + "${A=" * 250_000 + "\n")
    done = run("audit", "--root", str(root), "--format", "json", seconds=30)
    assert not done.crashed and done.code in (0, 1, 3), done


# -- 5. long member names ------------------------------------------------------------------


def _tgz(members: list[bytes]) -> bytes:
    raw = b"".join(members) + END
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as handle:
        handle.write(raw)
    return buffer.getvalue()


def _long_name(name: str) -> bytes:
    """A GNU long-name member (`L`) carrying `name` for the member after it."""
    data = name.encode() + b"\0"
    return header("././@LongLink", b"L", len(data)) + data + bytes(-len(data) % 512)


def test_deep_long_names_are_refused_before_they_cost_memory(tmp_path):
    members = []
    for index in range(400):
        deep = "/".join(f"{index}d{level}" for level in range(1000))[:4000]
        members += [_long_name(f"sosreport-x/{deep}/f"), member("placeholder", b"x")]
    archive = write(tmp_path / "sosreport-x.tar.gz", _tgz(members))
    done = run("audit", "--root", str(archive), "--format", "json", memory=256 * MiB, seconds=30)
    assert done.code == 2 and not done.crashed, done
    assert "folders deep; the limit is 64" in done.stderr


# -- 7. numbers that overflow --------------------------------------------------------------


def test_a_huge_btime_is_no_boot_time():
    assert procfs.boot_time("btime " + "9" * 401 + "\n") is None
    assert procfs.boot_time("btime 1700000000\n") == 1700000000.0
    assert procfs.boot_time("btime -5\n") is None


def test_a_huge_btime_in_a_root_crashes_nothing(tmp_path):
    root = copy_root("reboot-pending", tmp_path / "root")
    write(root / "proc/stat", "cpu 1 2 3\nbtime " + "9" * 401 + "\n")
    done = run("audit", "--root", str(root), "--format", "json", seconds=30)
    assert not done.crashed and done.code in (0, 1, 3), done
    assert all("crashed" not in r["message"] for r in json.loads(done.stdout)["results"])


def test_a_duration_of_401_digits_is_an_invalid_report(tmp_path):
    made = run(
        "audit", "--root", str(copy_root("intel-ready", tmp_path / "root")), "--format", "json"
    )
    text = made.stdout.replace(
        f'"duration_s": {json.loads(made.stdout)["duration_s"]}', '"duration_s": ' + "9" * 401, 1
    )
    report = write(tmp_path / "r.json", text)
    done = run("report", str(report))
    assert done.code == 2 and not done.crashed, done
    assert "digits is no report value" in done.stderr


# -- 8. negative member sizes --------------------------------------------------------------


@pytest.mark.parametrize(
    "size_field",
    [b"-7777777000\0", b"\xff" + b"\xff" * 10 + b"\x00"],
    ids=["octal", "base-256"],
)
def test_negative_member_sizes_make_the_archive_corrupt(tmp_path, size_field):
    block = bytearray(header("sosreport-x/proc/cmdline", b"0", 0))
    block[124:136] = size_field
    block[148:156] = b" " * 8
    block[148:156] = f"{sum(block):06o}\0 ".encode()
    raw = member("sosreport-x/sos_commands/x", b"x") + bytes(block) + END
    archive = write(tmp_path / "sosreport-x.tar", raw)
    done = run("audit", "--root", str(archive), "--format", "json", seconds=30)
    assert done.code == 2 and not done.crashed, done
    assert "negative size" in done.stderr


# -- 9. an unpacked snapshot whose root/ is a link -----------------------------------------


def test_a_snapshot_folder_whose_root_is_a_link_is_refused(tmp_path):
    folder = tmp_path / "snap"
    folder.mkdir()
    (folder / "manifest.json").write_bytes(manifest_bytes())
    (folder / "root").symlink_to("/")  # what `tar xf` makes of a hostile archive
    for option in ("--root", "--snapshot"):
        done = run("audit", option, str(folder), "--format", "json", seconds=30)
        assert done.code == 2 and not done.crashed, done
        assert "its root/ is a symbolic link, not a folder inside it" in done.stderr
        assert done.stdout == ""  # the auditor's own host was not audited


# -- 10. --max-age cannot be bypassed ------------------------------------------------------


def _report(**changes) -> Report:
    return Report(
        tool_version="0.1.0",
        host=HostInfo("h", "6.1.0", "snapshot h.tar.gz"),
        started_at="2026-12-03T12:00:00+00:00",
        duration_s=0.1,
        **changes,
    )


NOW = epoch("2026-12-03T12:00:00+00:00")


def test_an_unknown_collection_time_is_stale():
    stale = mark_stale(_report(collected_known=False), 86400, NOW)
    assert stale.stale == "cannot tell when it was read (the capture does not say)"
    assert stale.verdict() is Status.ERROR


def test_a_collection_time_in_the_future_is_an_error_naming_it():
    ahead = _report(collected_at="2026-12-04T12:00:00+00:00")
    stale = mark_stale(ahead, 86400, NOW)
    assert stale.stale.startswith("read at 2026-12-04T12:00:00+00:00, 24 h in the future")
    assert stale.verdict() is Status.ERROR
    skew = _report(collected_at="2026-12-03T12:02:00+00:00")  # two minutes: clock skew
    assert mark_stale(skew, 86400, NOW).stale is None


def test_a_snapshot_without_a_creation_time_is_stale_under_max_age(tmp_path):
    archive = snapshot_archive(
        tmp_path / "h.tar.gz",
        manifest_bytes(created="not a time"),
        {"/proc/cmdline": b"ro\n"},
    )
    done = run("audit", "--snapshot", str(archive), "--max-age", "1d", "--format", "json")
    assert done.code == 3, done
    data = json.loads(done.stdout)
    assert data["stale"] == "cannot tell when it was read (the capture does not say)"
    assert data["collected_at_unknown"] is True


def test_a_report_that_does_not_say_when_it_was_read_is_stale(tmp_path):
    made = run(
        "audit", "--root", str(copy_root("intel-ready", tmp_path / "root")), "--format", "json"
    )
    data = json.loads(made.stdout)
    del data["collected_at"]  # as reports before schema 1.3
    saved = write(tmp_path / "old.json", json.dumps(data))
    done = run("report", str(saved), "--max-age", "30d", "--format", "json")
    assert done.code == 3, done
    assert "cannot tell when it was read" in done.stdout


# -- 16. pci.driver-binding does not pass on what it could not read --------------------------


def test_a_modprobe_file_over_the_limit_is_an_error_not_a_pass(tmp_path):
    root = copy_root("intel-ready", tmp_path / "root")
    write(root / "etc/modprobe.d/zz-huge.conf", "# padding\n" * (MiB // 8))
    done = run("audit", "--root", str(root), "--format", "json", seconds=30)
    results = {r["id"]: r for r in json.loads(done.stdout)["results"]}
    binding = results["pci.driver-binding"]
    assert binding["status"] == "error", binding["message"]
    assert "/etc/modprobe.d/zz-huge.conf" in binding["message"]


# -- 13. processes that pose as QEMU -------------------------------------------------------


def _started(process, marker: bytes) -> None:
    for _ in range(500):  # until exec'd
        if marker in Path(f"/proc/{process.pid}/cmdline").read_bytes():
            return
        time.sleep(0.01)


@pytest.mark.skipif(not Path("/sys/bus/pci/devices").is_dir(), reason="no PCI devices here")
def test_a_process_named_like_qemu_claims_no_device_and_crashes_nothing(tmp_path):
    address = sorted(p.name for p in Path("/sys/bus/pci/devices").iterdir())[0]
    # argv[0] says QEMU, the executable is bash: any user can start this.
    claim = subprocess.Popen(
        [
            "bash",
            "-c",
            f'exec -a /usr/bin/qemu-system-x86_64 bash -c "sleep 30; :" x -device vfio-pci,host={address}',
        ]
    )
    # A real QEMU binary name (a copy of bash) with a -device nested past the JSON parser.
    binary = tmp_path / "qemu-system-x86_64"
    shutil.copy(shutil.which("bash"), binary)
    deep = "{" + '"a":[' * 20_000 + "]" * 20_000 + "}"  # under MAX_ARG_STRLEN (128 KiB)
    nested = subprocess.Popen([str(binary), "-c", "sleep 30; :", "x", "-device", deep])
    try:
        _started(claim, b"qemu-system")
        _started(nested, b"-device")
        done = run("devices", "--format", "json", seconds=60)
    finally:
        for process in (claim, nested):
            process.kill()
            process.wait()
    assert done.code == 0 and not done.crashed, done
    rows = {row["address"]: row for row in json.loads(done.stdout)}
    assert rows[address]["used_by"] is None


# -- 1. no secret in snapshots or reports --------------------------------------------------

SECRETS = {
    "etc/NetworkManager/system-connections/sriov.nmconnection": (
        "[connection]\nid=uplink\ntype=ethernet\ninterface-name=enp4s0f0\n"
        "[802-1x]\neap=peap;\nidentity=ops\npassword=SECRET-8021X\n"
        "[sriov]\ntotal-vfs=1\nautoprobe-drivers=true\n"
    ),
    "etc/NetworkManager/system-connections/wifi.nmconnection": (
        "[connection]\nid=office\ntype=wifi\n[wifi-security]\nkey-mgmt=wpa-psk\npsk=SECRET-PSK\n"
    ),
    "etc/NetworkManager/system-connections/wg0.nmconnection": (
        "[connection]\nid=wg0\ntype=wireguard\ninterface-name=wg0\n"
        "[wireguard]\nprivate-key=SECRET-WG-KEY\n[vpn-secrets]\npassword=SECRET-VPN\n"
    ),
    "etc/systemd/system/backup.service": (
        "[Service]\nEnvironment=API_TOKEN=SECRET-TOKEN\nExecStart=/usr/bin/backup\n"
    ),
    "boot/grub2/grub.cfg": (
        'set superusers="root"\npassword_pbkdf2 root grub.pbkdf2.sha512.10000.SECRET-HASH\nblscfg\n'
    ),
}


def test_no_network_or_boot_secret_reaches_a_snapshot_or_a_report(tmp_path):
    root = copy_root("sriov-vf", tmp_path / "root")
    for path, text in SECRETS.items():
        write(root / path, text)
    cmdline = (root / "proc/cmdline").read_text().strip()
    write(root / "proc/cmdline", cmdline + " rd.iscsi.password=SECRET-ISCSI\n")
    log = root / "var/log/dmesg"  # the kernel log repeats the command line
    write(log, log.read_text() + "[    0.000000] Command line: ro rd.iscsi.password=SECRET-LOG\n")
    archive = tmp_path / "h.tar.gz"
    made = run("snapshot", "--root", str(root), "-o", str(archive))
    assert made.code == 0, made
    with tarfile.open(archive) as tar:
        stored = b"".join(tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())
    assert b"SECRET" not in stored
    assert b"total-vfs=1" in stored and b"interface-name=enp4s0f0" in stored  # what is read stays
    outputs = []
    for source in (("--root", str(root)), ("--snapshot", str(archive))):
        for fmt in ("json", "text", "html", "junit"):
            done = run("audit", *source, "--device", "0000:04:10.0", "--format", fmt)
            outputs.append(done.stdout)
        binding = next(
            r for r in json.loads(outputs[-4])["results"] if r["id"] == "pci.driver-binding"
        )
        assert "sriov.nmconnection has [sriov] settings" in json.dumps(binding["devices"])
    assert not [text for text in outputs if "SECRET" in text]


# -- 6. what one saved report may cost ------------------------------------------------------


def _big_report(tmp_path, evidence: int, value: str = "v") -> Path:
    made = run(
        "audit", "--root", str(copy_root("intel-ready", tmp_path / "root")), "--format", "json"
    )
    data = json.loads(made.stdout)
    data["results"][0]["evidence"] = [{"source": "s", "value": value}] * evidence
    return write(tmp_path / "big.json", json.dumps(data))


def test_a_report_of_too_many_objects_is_refused_before_it_costs_memory(tmp_path):
    report = _big_report(tmp_path, 600_000)  # about 20 MiB: under the byte limit
    done = run("report", str(report), memory=512 * MiB, seconds=60)
    assert done.code == 2 and not done.crashed, done
    assert "more than 200000 objects" in done.stderr


def test_a_report_over_the_size_limit_is_refused_unread(tmp_path):
    report = _big_report(tmp_path, 1000, "x" * 40_000)  # about 40 MiB of text
    done = run("report", str(report), memory=512 * MiB, seconds=30)
    assert done.code == 2 and not done.crashed, done
    assert "larger than 33554432 bytes: not a report" in done.stderr


# -- 11. one invalid report in a fleet -------------------------------------------------------


def test_one_invalid_report_is_a_row_of_the_fleet_not_its_end(tmp_path):
    good = tmp_path / "hv01.json"
    run("audit", "--root", str(copy_root("intel-ready", tmp_path / "root")), "--json", str(good))
    bad = write(tmp_path / "hv02.json", '{"schema_version": "1.4.0"}')
    html = tmp_path / "fleet.html"
    done = run("report", str(good), str(bad), "--html", str(html), "--format", "text")
    assert done.code == 3 and not done.crashed, done  # the bad host cannot tell: an error
    assert "hv02" in done.stdout and "invalid report" in done.stdout
    page = html.read_text()
    assert "hv02" in page and "invalid report" in page and "intel" in page.lower()
