#!/usr/bin/env python
"""Build IMAX/DMAX from a PhysioNet tree: the same as ``imax build`` (all of its options apply).

    python dataset_scripts/build_imax.py --physionet-root /data/physionet --out imax
"""

import sys

from imax_hub.cli import main

if __name__ == "__main__":
    main(["build", *sys.argv[1:]])
