"""`python -m m2pt_core.cli ...` (under torchrun too): the `m2pt` command."""
import sys

from . import main

sys.exit(main())
