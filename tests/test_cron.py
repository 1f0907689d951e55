"""The README's cron recipe, taken from README.md and run as cron runs it, three days in a row:
the first run (no baseline yet), a day when nothing changed, and a day when something newly
fails. Checked: the exit codes, the files it leaves, and what cron would mail (all it prints).

With root and mount namespaces, the lines run exactly as written against this host: tmpfs
over /var/lib and /usr/local/bin (hostaudit is linked there, as pipx or pip would install
it) in a private mount namespace, so nothing of the host changes; on the third day an
unsafe-interrupt override is added to the running command line (a bind mount over
/proc/cmdline). Elsewhere the same command runs with /var/lib moved to a temporary folder
and `--root` pointed at a fixture host, which the third day changes.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import HOSTS
from tests.test_cli import validate

README = Path(__file__).parents[1] / "README.md"
BIN = Path(sys.executable).parent
DAYS = ("first", "unchanged", "newly-failing")
OVERRIDE = "vfio_iommu_type1.allow_unsafe_interrupts=1"


def recipe() -> tuple[dict[str, str], str, str]:
    """The README's ```crontab block: (its environment lines, the job's user, its command)."""
    [block] = re.findall(r"```crontab\n(.*?)```", README.read_text(), re.S)
    env, jobs = {}, []
    for line in block.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", line):
            name, value = line.split("=", 1)
            env[name] = value
        else:
            fields = line.split(None, 6)  # minute hour day month weekday user command
            assert len(fields) == 7, f"not a cron.d job line: {line}"
            jobs.append((fields[5], fields[6]))
    [(user, command)] = jobs
    assert "%" not in command  # cron turns % into a newline
    return env, user, command


def cron_env(env: dict[str, str]) -> dict[str, str]:
    """What cron gives a job: its file's variables, HOME, LOGNAME and SHELL, nothing else."""
    return {"HOME": "/root", "LOGNAME": "root", "SHELL": "/bin/sh", **env}


def can_use_mount_namespaces() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare") or not Path("/usr/local/bin").is_dir():
        return False
    probe = ["unshare", "-m", "--propagation", "private", "mount", "-t", "tmpfs", "t", "/mnt"]
    return subprocess.run(probe, capture_output=True).returncode == 0


def check_days(out: Path, first_code: int, prom_name: str) -> None:
    """What each day left in `out`: N.rc, N.mail and the folder N/ with the job's files."""
    from prometheus_client.parser import text_string_to_metric_families

    days = {}
    for n, day in enumerate(DAYS, 1):
        files = out / str(n)
        report = json.loads((files / "last.json").read_text())
        validate(report)
        metrics = {
            (s.name, s.labels.get("check"), s.labels.get("status")): s.value
            for family in text_string_to_metric_families((files / prom_name).read_text())
            for s in family.samples
        }
        mode = int((files / "modes").read_text().split()[-1], 8)
        days[day] = ((out / f"{n}.rc").read_text().strip(), (out / f"{n}.mail").read_text())
        days[day] += (report, metrics, mode)

    rc, mail, report, metrics, mode = days["first"]
    assert rc == str(first_code), mail
    assert "no baseline yet" not in mail  # --quiet
    assert "Traceback" not in mail
    if first_code == 0:
        assert mail == ""
    else:  # the first run mails the failures
        failing = [r["id"] for r in report["results"] if r["blocking"]]
        assert failing and all(check_id in mail for check_id in failing), mail
    assert mode & 0o044 == 0o044  # node_exporter (another user) reads the .prom file

    rc, mail, report2, metrics, _ = days["unchanged"]
    assert (rc, mail) == ("0", "")
    assert report2["started_at"] >= report["started_at"] and report2 != report

    rc, mail, report3, metrics, _ = days["newly-failing"]
    assert rc == "1", mail
    assert re.search(r"^NEW +kvm\.unsafe-interrupts: \w+ -> fail", mail, re.M), mail
    assert metrics[("hostaudit_check_status", "kvm.unsafe-interrupts", "fail")] == 1
    [unsafe] = [r for r in report3["results"] if r["id"] == "kvm.unsafe-interrupts"]
    assert unsafe["status"] == "fail" and unsafe["blocking"]


def test_readme_cron_recipe_runs_as_written_three_days_in_a_row(tmp_path):
    env, user, command = recipe()
    assert user == "root"  # the snapshot of DMAR, IVRS and the kernel log needs it
    if not can_use_mount_namespaces():
        pytest.skip("needs root and mount namespaces; the portable variant below runs instead")
    plain = subprocess.run(
        [str(BIN / "hostaudit"), "audit", "--format", "json"], capture_output=True, text=True
    )
    assert plain.returncode in (0, 1, 3), plain.stderr
    own = {r["id"]: r for r in json.loads(plain.stdout)["results"]}
    if own["kvm.unsafe-interrupts"]["status"] == "fail":
        pytest.skip("this host already sets an unsafe-interrupt override: nothing can newly fail")
    first_code = 0 if plain.returncode == 0 else 1
    prom = re.search(r"--prometheus (\S+)", command).group(1)  # type: ignore[union-attr]
    out = tmp_path / "out"
    out.mkdir()
    script = f"""
set -eu
umask 022
mount -t tmpfs hostaudit-test /var/lib
mount -t tmpfs hostaudit-test /usr/local/bin
ln -s {shlex.quote(str(BIN / "hostaudit"))} /usr/local/bin/hostaudit
for n in 1 2 3; do
    if [ "$n" = 3 ]; then
        printf '%s %s\\n' {OVERRIDE} "$(cat /proc/cmdline)" > {out}/cmdline
        mount --bind {out}/cmdline /proc/cmdline
    fi
    env -i {" ".join(shlex.quote(f"{k}={v}") for k, v in cron_env(env).items())} \\
        /bin/sh -c {shlex.quote(command)} > {out}/$n.mail 2>&1 && rc=0 || rc=$?
    echo "$rc" > {out}/$n.rc
    mkdir {out}/$n
    cp /var/lib/hostaudit/last.json {prom} {out}/$n/
    stat -c '%a' {prom} > {out}/$n/modes
    sleep 1  # each day's report starts at a later second
done
"""
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "/bin/sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    check_days(out, first_code, Path(prom).name)
    assert OVERRIDE not in Path("/proc/cmdline").read_text()  # the host itself is untouched


def test_cron_recipe_runs_three_days_in_a_row_on_a_fixture_host(tmp_path):
    """The same command with its /var/lib paths moved under tmp_path and --root added."""
    env, _, command = recipe()
    root = tmp_path / "host"
    shutil.copytree(HOSTS / "intel-ready", root, symlinks=True)
    var_lib = tmp_path / "var-lib"
    moved = command.replace("/var/lib/", f"{var_lib}/") + f" --root {shlex.quote(str(root))}"
    prom = re.search(r"--prometheus (\S+)", moved).group(1)  # type: ignore[union-attr]
    out = tmp_path / "out"
    out.mkdir()
    environment = cron_env({**env, "PATH": f"{BIN}:{env['PATH']}"})
    for n in (1, 2, 3):
        if n == 3:  # something newly fails: an unsafe-interrupt override in modprobe.d
            conf = root / "etc" / "modprobe.d" / "unsafe.conf"
            conf.parent.mkdir(parents=True, exist_ok=True)
            conf.write_text("options vfio_iommu_type1 allow_unsafe_interrupts=1\n")
        done = subprocess.run(
            ["/bin/sh", "-c", moved],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        (out / f"{n}.rc").write_text(f"{done.returncode}\n")
        (out / f"{n}.mail").write_text(done.stdout)
        (out / str(n)).mkdir()
        shutil.copy(var_lib / "hostaudit" / "last.json", out / str(n))
        shutil.copy(prom, out / str(n))
        (out / str(n) / "modes").write_text(f"{os.stat(prom).st_mode & 0o777:o}\n")
        if n < 3:  # each day's report starts at a later second
            import time

            time.sleep(1.0)
    check_days(out, 0, Path(prom).name)


def test_first_run_without_quiet_says_there_is_no_baseline_yet(tmp_path):
    baseline = tmp_path / "last.json"
    args = ["audit", "--root", str(HOSTS / "iommu-not-enabled"), "--baseline", str(baseline)]
    done = subprocess.run(
        [sys.executable, "-m", "auditor", *args, "--json", str(baseline)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1  # the audit's own result: a check fails
    assert "no baseline yet" in done.stderr and "no baseline yet" not in done.stdout
    assert "FAIL" in done.stdout
    validate(json.loads(baseline.read_text()))

    # A baseline that is not a report stops the run, and says how to start again.
    baseline.write_text("{")
    done = subprocess.run([sys.executable, "-m", "auditor", *args], capture_output=True, text=True)
    assert done.returncode == 2
    assert "remove it to start again from a first run" in done.stderr
