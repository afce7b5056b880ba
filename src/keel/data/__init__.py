"""Data: ingestion connectors (sources), dataset versioning with remotes (versions), and validation as a gate.

Names load on first use, so importing :mod:`keel.data` stays cheap.
"""

from __future__ import annotations

from keel.lazy import lazy_names

# One entry per line: "public name": "module under keel.data".
_LAZY: dict[str, str] = {
    "Suite": "validation",
    "validate": "validate_run",
    "profile": "validate_run",
    "load_suite": "suite_yaml",
    "ValidationResult": "validation_report",
    "DatasetVersion": "versioning",
    "add": "versioning",
    "checkout": "versioning",
    "get_version": "versioning",
    "load": "versioning",
    "versions": "versioning",
    "record_validation": "versioning",
    "validation_reports": "versioning",
    "diff": "diff_run",
    "DatasetDiff": "changes",
    "read": "sources",
    "ingest": "sources",
    "Source": "sources",
    "add_remote": "remotes",
    "list_remotes": "remotes",
    "remove_remote": "remotes",
    "push": "transfer",
    "pull": "transfer",
}


__getattr__ = lazy_names(__name__, _LAZY)


__all__ = sorted(_LAZY)
