"""Profiles: the schema, the loader's messages, extends, policies and waivers."""

from __future__ import annotations

import datetime
import json

import pytest

from auditor.errors import ProfileError
from auditor.model import Check, DeviceResult, Outcome, Severity, Status
from auditor.profile import Waiver, apply_waivers, builtin_names, load_profile, schema_errors
from auditor.record import replace
from auditor.registry import load_checks
from tests.conftest import HOSTS
from tests.test_cli import run_cli

CHECKS = load_checks(include_third_party=False)


def write(tmp_path, text: str, name: str = "p.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_builtin_profiles_are_valid_for_the_schema():
    # The loader trusts the shipped files (no jsonschema import on a default audit); this
    # is where they are held to the schema.
    from importlib.resources import files

    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib
    for name in builtin_names():
        text = files("auditor.profiles").joinpath(f"{name}.toml").read_text()
        assert schema_errors(tomllib.loads(text)) == [], name


def test_builtins_load_and_show_round_trips(tmp_path):
    assert builtin_names() == ["default", "development", "production", "rhel6"]
    for name in builtin_names():
        profile = load_profile(name, CHECKS)
        done = run_cli("profile", "show", name)
        assert done.returncode == 0
        again = load_profile(write(tmp_path, done.stdout, f"{name}.toml"), CHECKS)
        assert (again.fail_on, again.devices, again.waivers) == (
            profile.fail_on,
            profile.devices,
            profile.waivers,
        )
        for item in CHECKS:
            assert again.header(item.check) == profile.header(item.check)
            assert (
                again.policy(item.check.id).warn_fails == profile.policy(item.check.id).warn_fails
            )
    assert (
        load_profile("rhel6", CHECKS)
        .policy("guest.assigned-devices")
        .params["max_functions_per_guest"]
        == 8
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[checks."kvm.unsafe-interrupts"]\nseverity = "urgent"\n',
            "checks.\"kvm.unsafe-interrupts\".severity: found 'urgent', expected one of info, low, medium, high, critical",
        ),
        (
            '[checks."kvm.unsafe"]\nenabled = false\n',
            'checks."kvm.unsafe": found an unknown check, expected one of cpu.virtualization, guest.assigned-devices,',
        ),
        (
            'fail_on = "medium"\ncolour = "red"\n',
            ": found unknown key 'colour', expected one of checks, description,",
        ),
        ("fail_on = medium\n", ": found not valid TOML: "),
        (
            '[[waivers]]\ncheck = "kvm.unsafe-interrupts"\njustification = "lab"\nexpires = "2027-03-31"\n',
            "waivers[0]: found 'owner' is a required property, expected the keys check, justification, owner, expires",
        ),
        (
            '[[waivers]]\ncheck = "kvm.unsafe-interrupts"\njustification = "lab"\nowner = "me"\nexpires = "2027-02-30"\n',
            "waivers[0].expires: found '2027-02-30', expected a date YYYY-MM-DD",
        ),
        (
            '[checks."guest.assigned-devices"]\nmax_functions = 8\n',
            "checks.\"guest.assigned-devices\".max_functions: found an unknown setting 'max_functions', expected one of enabled, severity, warn_fails, max_functions_per_guest, allow_graphics",
        ),
        (
            '[checks."guest.assigned-devices"]\nmax_functions_per_guest = "8"\n',
            "checks.\"guest.assigned-devices\".max_functions_per_guest: found '8', expected a int like 0",
        ),
        (
            'devices = ["01:00"]\n',
            "devices[0]: found '01:00', expected a PCI address: 0000:01:00.0",
        ),
        (
            'extends = "nonesuch"\n',
            "profile nonesuch: found no such built-in profile, expected one of default, development",
        ),
    ],
)
def test_bad_profiles_name_file_key_found_and_expected(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ProfileError) as caught:
        load_profile(path, CHECKS)
    assert message in str(caught.value)
    if "nonesuch" not in message:
        assert str(caught.value).startswith(f"profile {path}")


def test_extends_cycles_are_refused(tmp_path):
    write(tmp_path, 'extends = "b.toml"\n', "a.toml")
    write(tmp_path, 'extends = "a.toml"\n', "b.toml")
    with pytest.raises(ProfileError, match=r"a cycle: .*a\.toml -> .*b\.toml -> .*a\.toml"):
        load_profile(str(tmp_path / "a.toml"), CHECKS)


def test_bad_profile_on_the_command_line_exits_2_without_traceback(tmp_path):
    path = write(tmp_path, '[checks."kvm.unsafe-interrupts"]\nseverity = 3\n')
    done = run_cli("audit", "--root", str(HOSTS / "intel-ready"), "--profile", path)
    assert done.returncode == 2
    assert done.stderr == (
        f'hostaudit: profile {path}: checks."kvm.unsafe-interrupts".severity: found 3, '
        "expected one of info, low, medium, high, critical\n"
    )


def audit_json(*args: str) -> tuple[int, dict]:
    done = run_cli("audit", *args, "--format", "json")
    assert done.returncode in (0, 1, 3), done.stderr
    return done.returncode, json.loads(done.stdout)


def by_id(data: dict) -> dict:
    return {r["id"]: r for r in data["results"]}


def test_extends_overrides_and_merges(tmp_path):
    path = write(
        tmp_path,
        'extends = "rhel6"\nfail_on = "critical"\n[checks."cpu.virtualization"]\nenabled = false\n'
        '[checks."iommu.group-isolation"]\nseverity = "low"\n',
    )
    profile = load_profile(path, CHECKS)
    assert profile.sources == (path, "builtin:rhel6", "builtin:default")
    assert profile.fail_on is Severity.CRITICAL
    assert profile.policy("guest.assigned-devices").params == {
        "max_functions_per_guest": 8,
        "allow_graphics": False,
        "warn_multifunction": True,
    }
    code, data = audit_json("--root", str(HOSTS / "gpu-shares-group-with-usb"), "--profile", path)
    results = by_id(data)
    assert "cpu.virtualization" not in results
    assert results["iommu.group-isolation"]["severity"] == "low"
    assert results["iommu.group-isolation"]["status"] == "fail"
    assert results["iommu.group-isolation"]["blocking"] is False
    assert code == 0  # its only failure is below fail_on


def test_warn_fails_and_the_development_profile(tmp_path):
    root = str(HOSTS / "unsafe-interrupts")
    code, data = audit_json("--root", root)
    assert (code, by_id(data)["kvm.unsafe-interrupts"]["status"]) == (1, "fail")
    code, data = audit_json("--root", root, "--profile", "development")
    assert (code, by_id(data)["kvm.unsafe-interrupts"]["status"]) == (0, "warn")
    path = write(
        tmp_path, 'extends = "development"\n[checks."kvm.unsafe-interrupts"]\nwarn_fails = true\n'
    )
    code, data = audit_json("--root", root, "--profile", path)
    assert (code, by_id(data)["kvm.unsafe-interrupts"]["blocking"]) == (1, True)
    junit = run_cli("audit", "--root", root, "--profile", path, "--format", "junit").stdout
    assert '<failure message="unsafe interrupts allowed' in junit


# --- waivers -------------------------------------------------------------------------------


def waiver_profile(
    tmp_path, expires: str, device: str = "", check: str = "kvm.unsafe-interrupts"
) -> str:
    device_line = f'device = "{device}"\n' if device else ""
    return write(
        tmp_path,
        f'[[waivers]]\ncheck = "{check}"\n{device_line}justification = "lab host, OPS-1234"\n'
        f'owner = "virt-team"\nexpires = "{expires}"\n',
    )


def test_an_active_waiver_makes_a_failure_waived_everywhere(tmp_path):
    path = waiver_profile(tmp_path, "2999-12-31")
    root = str(HOSTS / "unsafe-interrupts")
    code, data = audit_json("--root", root, "--profile", path)
    result = by_id(data)["kvm.unsafe-interrupts"]
    assert code == 0
    assert result["status"] == "waived"
    assert result["message"].startswith(
        "waived until 2999-12-31 (UTC) by virt-team: lab host, OPS-1234; finding: unsafe interrupts allowed"
    )
    junit = run_cli("audit", "--root", root, "--profile", path, "--format", "junit").stdout
    assert (
        '<skipped message="waived until 2999-12-31 (UTC) by virt-team: lab host, OPS-1234' in junit
    )
    text = run_cli("audit", "--root", root, "--profile", path).stdout
    assert "WAIVED    kvm.unsafe-interrupts" in text


def test_an_expired_waiver_no_longer_applies_and_says_so(tmp_path):
    path = waiver_profile(tmp_path, "2020-01-31")
    code, data = audit_json("--root", str(HOSTS / "unsafe-interrupts"), "--profile", path)
    assert code == 1
    assert by_id(data)["kvm.unsafe-interrupts"]["status"] == "fail"
    assert data["notices"] == [
        "waiver for kvm.unsafe-interrupts (virt-team, lab host, OPS-1234) expired on 2020-01-31 (UTC): it no longer applies"
    ]


def test_a_waiver_applies_to_a_warning(tmp_path):
    # rhel6 warns that the guide's multifunction NIC cannot be hot-plugged; the lab knows.
    path = write(
        tmp_path,
        'extends = "rhel6"\n[[waivers]]\ncheck = "pci.device-support"\n'
        'justification = "assigned statically"\nowner = "virt-team"\nexpires = "2999-12-31"\n',
    )
    root = str(HOSTS / "rhel6-legacy")
    _, data = audit_json("--root", root, "--profile", "rhel6")
    assert by_id(data)["pci.device-support"]["status"] == "warn"
    code, data = audit_json("--root", root, "--profile", path)
    assert code == 0
    result = by_id(data)["pci.device-support"]
    assert result["status"] == "waived" and result["message"].startswith(
        "waived until 2999-12-31 (UTC) by virt-team: assigned statically; finding: "
        "0000:01:00.0 is multifunction"
    )
    assert [d["status"] for d in result["devices"]] == ["waived", "waived"]
    assert data["notices"] == []


def test_an_unused_waiver_says_there_is_nothing_to_waive(tmp_path):
    # The case: a GPU host under the default profile has no warning to waive now.
    path = write(
        tmp_path,
        '[[waivers]]\ncheck = "pci.device-support"\njustification = "GPU host"\n'
        'owner = "virt-team"\nexpires = "2999-12-31"\n'
        '[[waivers]]\ncheck = "iommu.group-isolation"\ndevice = "0000:09:00.0"\n'
        'justification = "old card"\nowner = "virt-team"\nexpires = "2999-12-31"\n'
        '[[waivers]]\ncheck = "cpu.virtualization"\njustification = "nested"\n'
        'owner = "virt-team"\nexpires = "2999-12-31"\n'
        '[checks."cpu.virtualization"]\nenabled = false\n',
    )
    code, data = audit_json("--root", str(HOSTS / "gpu-shares-group-with-usb"), "--profile", path)
    assert code == 1  # the group still fails: the waiver names a device that is not there
    assert data["notices"] == [
        "unused waiver for iommu.group-isolation on 0000:09:00.0 (virt-team, old card): "
        "nothing to waive (iommu.group-isolation: fail)",
        "unused waiver for pci.device-support (virt-team, GPU host): nothing to waive "
        "(pci.device-support: pass)",
        "unused waiver for cpu.virtualization (virt-team, nested): nothing to waive "
        "(cpu.virtualization did not run)",
    ]
    text = run_cli("audit", "--root", str(HOSTS / "gpu-shares-group-with-usb"), "--profile", path)
    assert "unused waiver for pci.device-support" in text.stdout


CHECK = Check("kvm.unsafe-interrupts", "t", Severity.HIGH, (), ("fix",))
FAILED = Outcome(Status.FAIL, "unsafe interrupts allowed")


@pytest.mark.parametrize(
    ("expires", "status", "notice"),
    [
        ("2026-11-23", Status.FAIL, "expired on 2026-11-23 (UTC): it no longer applies"),
        ("2026-11-24", Status.WAIVED, "expires on 2026-11-24 (UTC), in 0 days"),
        ("2026-12-08", Status.WAIVED, "expires on 2026-12-08 (UTC), in 14 days"),
        ("2026-12-09", Status.WAIVED, None),
    ],
)
def test_waiver_expiry_boundaries(expires, status, notice):
    profile = replace(
        load_profile("default", CHECKS),
        waivers=(Waiver(CHECK.id, "", "lab", "me", datetime.date.fromisoformat(expires)),),
    )
    outcome, notices = apply_waivers(profile, CHECK, FAILED, datetime.date(2026, 11, 24))
    assert outcome.status is status
    assert [n.split(") ", 1)[1] for n in notices] == ([notice] if notice else [])


def test_a_device_waiver_waives_only_that_device():
    group = Check("iommu.group-isolation", "t", Severity.HIGH, (), ("fix",))
    failing = Outcome(
        Status.FAIL,
        "two fail",
        devices=(
            DeviceResult(
                "0000:22:00.0", Status.FAIL, "is in group 15, which also holds a USB controller"
            ),
            DeviceResult(
                "0000:22:00.1", Status.FAIL, "is in group 15, which also holds a USB controller"
            ),
        ),
    )
    today = datetime.date(2026, 11, 24)
    one = Waiver(group.id, "0000:22:00.1", "audio unused", "me", datetime.date(2027, 1, 1))
    profile = replace(load_profile("default", CHECKS), waivers=(one,))
    outcome, _ = apply_waivers(profile, group, failing, today)
    assert outcome.status is Status.FAIL
    assert [d.status for d in outcome.devices] == [Status.FAIL, Status.WAIVED]
    assert outcome.message == "0000:22:00.0 is in group 15, which also holds a USB controller"
    both = replace(profile, waivers=(one, replace(one, device="0000:22:00.0")))
    outcome, _ = apply_waivers(both, group, failing, today)
    assert outcome.status is Status.WAIVED


def test_the_default_profile_constant_is_default_toml():
    """Audits with the default profile use profile.DEFAULT_PROFILE and read no TOML; it
    must be exactly what profiles/default.toml resolves to."""
    from auditor import profile

    layers = [
        ("builtin:default", profile._parse("builtin:default", profile._read("default", ".")[1]))
    ]
    assert profile._merge("default", layers) == profile.DEFAULT_PROFILE


def test_auditing_without_a_profile_is_auditing_with_the_default_profile():
    from auditor.context import Context
    from auditor.host import Host
    from auditor.profile import DEFAULT_PROFILE
    from auditor.runner import host_info, run_audit

    checks = load_checks(include_third_party=False)
    for name in ("intel-ready", "iommu-not-enabled", "gpu-shares-group-with-usb"):
        reports = []
        for profile in (None, DEFAULT_PROFILE):
            with Host(str(HOSTS / name)) as host:
                ctx = Context(host=host, profile=profile)
                reports.append(run_audit(checks, ctx, host_info(ctx)))
        strip = lambda r: [(x.check, x.outcome, x.blocking) for x in r.results]  # noqa: E731
        assert strip(reports[0]) == strip(reports[1])
        assert reports[0].profile == reports[1].profile == "default"
        assert reports[0].notices == reports[1].notices


def test_a_required_check_that_is_not_judged_is_an_error(tmp_path):
    """require = [...]: a sosreport cannot judge IOMMU groups; a profile that requires every
    iommu.* check turns that skip into a counted error (exit 3), and says so."""
    sos = HOSTS.parent / "sosreports" / "sosreport-hv01-2026-11-20-qkwztnb"
    profile = tmp_path / "strict.toml"
    profile.write_text('extends = "default"\nrequire = ["iommu.*"]\n')
    code, data = audit_json("--root", str(sos), "--profile", str(profile))
    results = by_id(data)
    groups = results["iommu.group-isolation"]
    assert groups["status"] == "error" and groups["blocking"] is True
    assert groups["message"].startswith("required by profile strict, not judged: cannot tell:")
    assert results["selinux.virt-use-sysfs"]["status"] == "skip"  # not required: stays a skip
    assert code == 3 and data["summary"]["verdict"] == "error"
    code, data = audit_json("--root", str(sos))  # the default profile requires nothing
    assert code == 0 and by_id(data)["iommu.group-isolation"]["status"] == "skip"
    assert data["summary"]["judged"] < data["summary"]["checks"]


def test_a_require_pattern_that_names_no_check_is_refused(tmp_path):
    profile = tmp_path / "typo.toml"
    profile.write_text('require = ["iommu.groups-isolation"]\n')
    with pytest.raises(ProfileError) as raised:
        load_profile(str(profile), load_checks(include_third_party=False))
    assert "require[0]" in str(raised.value) or "require.0" in str(raised.value)
    assert "names no check" in str(raised.value)


def test_require_adds_up_through_extends(tmp_path):
    (tmp_path / "base.toml").write_text('require = ["iommu.*"]\n')
    (tmp_path / "child.toml").write_text('extends = "base.toml"\nrequire = ["pci.*"]\n')
    profile = load_profile(str(tmp_path / "child.toml"), load_checks(include_third_party=False))
    assert profile.require == ("iommu.*", "pci.*")
    assert profile.requires("pci.device-reset") and not profile.requires("cpu.virtualization")
