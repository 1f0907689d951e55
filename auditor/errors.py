"""One exception hierarchy for the whole tool; only the CLI turns these into exit codes."""

from __future__ import annotations


class AuditorError(Exception):
    """Root of every error hostaudit raises on purpose."""


class UsageError(AuditorError):
    """The audit cannot run as asked (bad argument, missing root): exit code 2."""


class CheckLoadError(AuditorError):
    """A check module could not be loaded, or two checks share an id."""


class HostError(AuditorError):
    """Reading a path of the audited host failed; `path` is the host path, not the real one."""

    reason = "unreadable"

    def __init__(self, path: str, detail: str = "") -> None:
        self.path = path
        self.detail = detail
        super().__init__(f"{path}: {self.reason}" + (f" ({detail})" if detail else ""))


class FileMissingError(HostError):
    """The path does not exist under the root."""

    reason = "missing"


class NeedsRootError(HostError):
    """Permission denied: the path exists but only a privileged user may read it."""

    reason = "needs root"


class UnreadableError(HostError):
    """The path exists but cannot be read as asked (a folder, too large, I/O error)."""

    reason = "unreadable"


class NotCollectedError(AuditorError):
    """The audited archive does not hold the path: a check cannot tell, so it skips.

    Deliberately not a HostError: a check that treats a missing file as evidence ("no
    IOMMU groups, so the IOMMU is off") must not see an archive's gap as that evidence.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path} is not in the archive: {reason}")


class ReportError(AuditorError):
    """A saved report cannot be read back: unreadable, not JSON, or not valid for the schema."""

    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(f"{path}: {detail}")


class ProfileError(AuditorError):
    """A profile cannot be used: names the file, the key path, what was found and expected."""

    def __init__(self, source: str, key: str, found: str, expected: str) -> None:
        self.source, self.key, self.found, self.expected = source, key, found, expected
        where = f"profile {source}" + (f": {key}" if key else "")
        super().__init__(f"{where}: found {found}, expected {expected}")


class ReadBudgetError(AuditorError):
    """The audit has read as much as one audit may (READ_BUDGET): the input is hostile or
    broken. Not a HostError, so that no check takes it for evidence; the runner reports it
    as an error result."""

    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(f"{path}: {detail}")
