"""`python -m chvoice_core.cli ...`: the same as the `chvoice` command."""
import sys

from .parser import main

sys.exit(main())
