"""`python -m quoting.cli ...`: the `smallfish` command line (:func:`quoting.cli.main.main`)."""

import sys

from quoting.cli.main import main

sys.exit(main())
