from __future__ import annotations

from assay._launcher import main

main()
