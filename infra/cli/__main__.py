"""`python -m infra.cli ...`: the govshare command, as the `govshare` script runs it."""
import sys

from infra.cli import main

sys.exit(main())
