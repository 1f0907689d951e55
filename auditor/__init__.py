"""hostaudit: a host preflight and compliance auditor for PCI device assignment."""

__version__ = "0.1.0"
