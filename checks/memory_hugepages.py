"""Guests backed by hugepages find them reserved on the host.

A libvirt guest with <memoryBacking><hugepages/> takes all its memory from the host's
hugepage pool of that page size, and does not start when the pool is short ("unable to map
backing store for guest RAM": QEMU's -mem-path needs the pages at start). Assigned devices
make this usual: with VFIO all guest memory is pinned, and hugepages cut the IOMMU's
page-table walks and the pinning cost. The pool is per page size
(/sys/kernel/mm/hugepages/hugepages-<size>kB/nr_hugepages, Documentation/admin-guide/mm/
hugetlbpage.rst); <hugepages/> without a <page> uses the host's default size (Hugepagesize
in /proc/meminfo). Pages per guest NUMA node (<page nodeset=...>) are not judged: the split
of the guest's memory over its nodes is in <numa>, which this check does not read.
"""

from __future__ import annotations

from auditor.context import LIBVIRT_QEMU, Context
from auditor.errors import FileMissingError, HostError, NotCollectedError
from auditor.model import Check, Evidence, Outcome, Severity, Status, outcome

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from auditor.parsers.libvirt import Domain

HUGEPAGES = "/sys/kernel/mm/hugepages"
MEMINFO = "/proc/meminfo"

CHECK = Check(
    id="memory.hugepages",
    title="Hugepages that guests are backed by are reserved",
    severity=Severity.MEDIUM,
    passes=(
        "every libvirt guest whose `<memoryBacking>` asks for hugepages finds enough reserved "
        "pages of its size (`nr_hugepages` under `/sys/kernel/mm/hugepages`; the default size "
        "from `/proc/meminfo`); all of them together not fitting at once warns"
    ),
    reads=(
        LIBVIRT_QEMU,
        f"{LIBVIRT_QEMU}/*.xml",
        HUGEPAGES,
        f"{HUGEPAGES}/hugepages-*/nr_hugepages",
        f"{HUGEPAGES}/hugepages-*/nr_overcommit_hugepages",
        MEMINFO,
    ),
    remediation=(
        "Reserve the pages at boot, where 1 GiB pages can still be found contiguous: add "
        "hugepagesz=<size> hugepages=<count> to the kernel command line (default_hugepagesz= "
        "for the size <hugepages/> without <page> uses), then reboot.",
        "For the default size, vm.nr_hugepages = <count> in /etc/sysctl.d/hugepages.conf also "
        "works at run time (`sysctl --system`), if enough memory is still unfragmented.",
        "Or ask for a page size the host reserves, in the guest's <memoryBacking>.",
    ),
    references=(
        "Documentation/admin-guide/mm/hugetlbpage.rst",
        "libvirt docs/formatdomain.rst: Memory Backing",
    ),
    description=(
        "A guest backed by hugepages does not start when the host's pool of that page size "
        "is short. The pool is compared with each guest's <memory>, and with all such guests "
        "at once."
    ),
    accepts=(
        "libvirt domain XML (/etc/libvirt/qemu/*.xml, or --domain-xml): <memory> and "
        "<memoryBacking><hugepages>",
        "the pools under /sys/kernel/mm/hugepages (nr_hugepages per size) and /proc/meminfo's "
        "Hugepagesize",
    ),
)


def run(ctx: Context) -> Outcome:
    guests = [(source, domain) for source, domain in ctx.guests() if not isinstance(domain, str)]
    backed = [(source, domain) for source, domain in guests if domain.hugepages]
    if not backed:
        why = "no libvirt guest definitions" if not guests else "no guest asks for hugepages"
        return outcome(Status.SKIP, f"{why}: nothing to reserve")
    try:
        pools = _pools(ctx)
    except NotCollectedError:
        return outcome(Status.SKIP, f"{HUGEPAGES} was not collected: the pools cannot be read")
    except (HostError, ValueError) as exc:
        return outcome(Status.ERROR, f"cannot read the hugepage pools: {exc}")
    default = _default_size(ctx)
    evidence = [Evidence(HUGEPAGES, _shown(pools) or "(no pools)")]
    if default:
        evidence.append(Evidence(MEMINFO, f"Hugepagesize: {default} kB"))
    failures: list[str] = []
    unknown: list[str] = []
    surplus: list[str] = []  # guests that fit only with pages allocated at their start
    needs: dict[int, int] = {}
    for source, domain in backed:
        need = _need(domain, default)
        evidence.append(Evidence(source, f"{domain.name}: {_wanted(domain, need)}"))
        if isinstance(need, str):
            unknown.append(f"{domain.name}: {need}")
            continue
        size, pages = need
        needs[size] = needs.get(size, 0) + pages
        if size not in pools:
            failures.append(
                f"{domain.name} needs {pages} {_size(size)} pages: no pool of that size"
            )
            continue
        reserved, overcommit = pools[size]
        if reserved + overcommit < pages:
            failures.append(f"{domain.name} needs {pages} {_size(size)} pages, {reserved} reserved")
        elif reserved < pages:
            surplus.append(
                f"{domain.name} needs {pages} {_size(size)} pages, {reserved} reserved: the rest "
                f"only as surplus pages (nr_overcommit_hugepages {overcommit}), allocated at its "
                "start if that much memory is free and unfragmented"
            )
    if failures:
        return outcome(Status.FAIL, "; ".join(failures), evidence)
    if unknown:
        return outcome(Status.ERROR, "cannot tell: " + "; ".join(unknown), evidence)
    if surplus:
        return outcome(Status.WARN, "; ".join(surplus), evidence)
    short = [
        f"{pages} {_size(size)} pages for all of them, {pools[size][0]} reserved"
        for size, pages in sorted(needs.items())
        if pools[size][0] < pages
    ]
    if short:
        return outcome(
            Status.WARN,
            "each guest fits, not all at once: " + "; ".join(short),
            evidence,
            ("Reserve the sum if these guests run together, or leave it if they never do.",),
        )
    return outcome(
        Status.PASS,
        f"{len(backed)} guest(s) backed by hugepages fit the reserved pools ({_shown(pools)})",
        evidence,
    )


def _pools(ctx: Context) -> dict[int, tuple[int, int]]:
    """Per page size in KiB: (pages reserved, surplus pages the kernel may allocate on
    demand), from hugepages-<size>kB/nr_hugepages and nr_overcommit_hugepages
    (Documentation/admin-guide/mm/hugetlbpage.rst). ValueError for a value that is no
    count: a pool that cannot be read is never taken for an empty one."""
    pools = {}
    for name in ctx.host.listdir(HUGEPAGES):
        if not (name.startswith("hugepages-") and name.endswith("kB")):
            continue
        size = name[len("hugepages-") : -len("kB")]
        if size.isdigit():
            folder = f"{HUGEPAGES}/{name}"
            reserved = _count(ctx.host.read_text(f"{folder}/nr_hugepages", limit=64), folder)
            try:
                text = ctx.host.read_text(f"{folder}/nr_overcommit_hugepages", limit=64)
            except FileMissingError:  # a capture without it: no surplus is counted on
                text = "0"
            pools[int(size)] = (reserved, _count(text, folder))
    return pools


def _count(text: str, folder: str) -> int:
    if not text.strip().isdigit():
        raise ValueError(f"{folder}: {text.strip()[:40]!r} is not a page count")
    return int(text.strip())


def _default_size(ctx: Context) -> int | None:
    """The default hugepage size in KiB ("Hugepagesize:    2048 kB"), or None."""
    try:
        text = ctx.host.read_text(MEMINFO, limit=64 * 1024)
    except (HostError, NotCollectedError):
        return None
    for line in text.splitlines():
        if line.startswith("Hugepagesize:"):
            words = line.split()
            return int(words[1]) if len(words) > 1 and words[1].isdigit() else None
    return None


def _need(domain: Domain, default: int | None) -> tuple[int, int] | str:
    """(page size in KiB, pages) the guest needs, or why that cannot be told."""
    if len(domain.hugepages) > 1 or domain.hugepages[0].nodeset:
        return "its pages are set per guest NUMA node, which is not judged"
    size = domain.hugepages[0].size_kib or default
    if size is None:
        return "<hugepages/> without a size, and the host's default size is not known"
    if domain.memory_kib <= 0:
        return "no <memory> size"
    return size, -(-domain.memory_kib // size)


def _wanted(domain: Domain, need: tuple[int, int] | str) -> str:
    memory = f"<memory> {_size(domain.memory_kib)}"
    if isinstance(need, str):
        return f"{memory}, hugepages: {need}"
    return f"{memory} in {need[1]} pages of {_size(need[0])}"


def _size(kib: int) -> str:
    for unit, scale in (("GiB", 1 << 20), ("MiB", 1 << 10)):
        if kib >= scale and kib % scale == 0:
            return f"{kib // scale} {unit}"
    return f"{kib} KiB"


def _shown(pools: dict[int, tuple[int, int]]) -> str:
    return ", ".join(
        f"{_size(size)}: {reserved}" + (f" (+{surplus} surplus)" if surplus else "")
        for size, (reserved, surplus) in sorted(pools.items())
    )
