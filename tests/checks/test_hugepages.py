"""memory.hugepages: guests backed by hugepages against the host's reserved pools, with guest
definitions modelled on libvirt's own test data (tests/fixtures/libvirt/SOURCE.md) and the
pools as sysfs lays them out (Documentation/admin-guide/mm/hugetlbpage.rst)."""

from __future__ import annotations

import pytest

from auditor.model import Status
from auditor.parsers.libvirt import parse_domain, to_kib
from tests.checks.test_branches import check
from tests.conftest import FIXTURES

LIBVIRT = FIXTURES / "libvirt"
MEMINFO_2M = "MemTotal:       65747884 kB\nHugePages_Total:    4096\nHugepagesize:       2048 kB\n"


def host(guests: tuple[str, ...], pools: dict[int, int], meminfo: str = MEMINFO_2M) -> dict:
    spec: dict = {"/proc/meminfo": meminfo}
    for name in guests:
        spec[f"/etc/libvirt/qemu/{name}"] = (LIBVIRT / name).read_text()
    for size, pages in pools.items():
        spec[f"/sys/kernel/mm/hugepages/hugepages-{size}kB/nr_hugepages"] = f"{pages}\n"
        spec[f"/sys/kernel/mm/hugepages/hugepages-{size}kB/free_hugepages"] = f"{pages}\n"
    return spec


def test_guests_without_hugepages_are_not_judged(make_host):
    result = check("memory.hugepages", make_host(host(("within-limit.xml",), {2048: 0})))
    assert result.status is Status.SKIP
    assert result.message == "no guest asks for hugepages: nothing to reserve"
    empty = check("memory.hugepages", make_host(host((), {2048: 0})))
    assert empty.message == "no libvirt guest definitions: nothing to reserve"


def test_a_default_size_guest_fits_the_default_pool(make_host):
    # 8 GiB in 2 MiB pages (Hugepagesize from /proc/meminfo): 4096 pages.
    result = check("memory.hugepages", make_host(host(("hugepages-default.xml",), {2048: 4096})))
    assert result.status is Status.PASS, result.message
    assert "hp-default: <memory> 8 GiB in 4096 pages of 2 MiB" in [e.value for e in result.evidence]


def test_a_short_pool_fails_with_the_numbers(make_host):
    result = check("memory.hugepages", make_host(host(("hugepages-default.xml",), {2048: 4000})))
    assert result.status is Status.FAIL
    assert result.message == "hp-default needs 4096 2 MiB pages, 4000 reserved"


def test_a_page_size_the_host_has_no_pool_of_fails(make_host):
    result = check("memory.hugepages", make_host(host(("hugepages-1g.xml",), {2048: 8192})))
    assert result.status is Status.FAIL
    assert result.message == "hp-1g needs 16 1 GiB pages: no pool of that size"
    fits = check("memory.hugepages", make_host(host(("hugepages-1g.xml",), {1048576: 16})))
    assert fits.status is Status.PASS


def test_guests_that_fit_one_at_a_time_but_not_together_warn(make_host):
    spec = host(("hugepages-default.xml", "hugepages-1g.xml"), {2048: 4096, 1048576: 16})
    assert check("memory.hugepages", make_host(spec)).status is Status.PASS
    twice = dict(spec)
    twice["/etc/libvirt/qemu/copy.xml"] = (
        (LIBVIRT / "hugepages-default.xml").read_text().replace("hp-default", "hp-copy")
    )
    result = check("memory.hugepages", make_host(twice))
    assert result.status is Status.WARN
    assert result.message == (
        "each guest fits, not all at once: 8192 2 MiB pages for all of them, 4096 reserved"
    )


def test_pages_per_guest_numa_node_cannot_be_told(make_host):
    result = check("memory.hugepages", make_host(host(("hugepages-per-node.xml",), {2048: 1})))
    assert result.status is Status.ERROR
    assert "per guest NUMA node" in result.message


def test_without_a_default_size_the_default_guest_cannot_be_told(make_host):
    result = check(
        "memory.hugepages",
        make_host(host(("hugepages-default.xml",), {2048: 4096}, meminfo="MemTotal: 1 kB\n")),
    )
    assert result.status is Status.ERROR
    assert "default size is not known" in result.message


@pytest.mark.parametrize(
    ("value", "unit", "kib"),
    [
        ("8388608", "KiB", 8388608),
        ("16", "G", 16 << 20),
        ("16", "GiB", 16 << 20),
        ("1", "GB", 976563),  # 10**9 bytes, rounded up to whole KiB
        ("2048", None, 2048),  # libvirt's default unit is KiB
        ("1025", "b", 2),
        ("4", "M", 4096),
    ],
)
def test_libvirt_sizes_in_every_unit(value, unit, kib):
    assert to_kib(value, unit) == kib


@pytest.mark.parametrize(
    ("value", "unit"), [("-1", "KiB"), ("1", "parsecs"), ("12", "Gx"), ("9" * 100, "KiB")]
)
def test_a_size_libvirt_would_refuse_is_refused(value, unit):
    with pytest.raises(ValueError):
        to_kib(value, unit)


def test_the_parser_reads_memory_and_backing():
    domain = parse_domain((LIBVIRT / "hugepages-1g.xml").read_text())
    assert domain.memory_kib == 16 << 20
    assert [(p.size_kib, p.nodeset) for p in domain.hugepages] == [(1 << 20, "")]
    per_node = parse_domain((LIBVIRT / "hugepages-per-node.xml").read_text())
    assert [(p.size_kib, p.nodeset) for p in per_node.hugepages] == [(1 << 20, ""), (2048, "0")]
    assert parse_domain((LIBVIRT / "within-limit.xml").read_text()).hugepages == ()
    with pytest.raises(ValueError, match="no usable size"):
        parse_domain((LIBVIRT / "hugepages-1g.xml").read_text().replace("size='1'", "size='lots'"))


def test_surplus_pages_warn_and_a_pool_that_is_no_count_cannot_be_told(make_host):
    # nr_overcommit_hugepages lets the kernel allocate surplus pages at the guest's start
    # (hugetlbpage.rst): the guest may start, when the memory is there: a warning, not a failure.
    spec = host(("hugepages-default.xml",), {2048: 2048})
    spec["/sys/kernel/mm/hugepages/hugepages-2048kB/nr_overcommit_hugepages"] = "4096\n"
    result = check("memory.hugepages", make_host(spec))
    assert result.status is Status.WARN
    assert result.message.startswith("hp-default needs 4096 2 MiB pages, 2048 reserved: the rest")
    spec["/sys/kernel/mm/hugepages/hugepages-2048kB/nr_overcommit_hugepages"] = "1000\n"
    assert check("memory.hugepages", make_host(spec)).status is Status.FAIL
    spec["/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"] = "lots\n"
    unreadable = check("memory.hugepages", make_host(spec))
    assert unreadable.status is Status.ERROR
    assert "is not a page count" in unreadable.message
