"""``python -m mvlib …`` (and ``torchrun -m mvlib …``) runs the command line."""

import sys

from mvlib.cli import main

sys.exit(main())
