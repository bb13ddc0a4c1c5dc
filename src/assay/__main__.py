from __future__ import annotations

from assay.cli import main

main()
