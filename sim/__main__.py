"""`python -m sim ...`: run simulated vehicles (same options as `groundstation sim`)."""
import sys

from sim.launcher import main

sys.exit(main())
