"""Projects: creating one (``assay init``), from the default template or a bundled example.

>>> from assay.project import init_project
>>> init_project(Path("demo"), example="churn").root
"""

from __future__ import annotations

from assay.project._init import DEFAULT_CONFIG, GITIGNORE_ENTRIES, InitResult, init_project

__all__ = ["DEFAULT_CONFIG", "GITIGNORE_ENTRIES", "InitResult", "init_project"]
