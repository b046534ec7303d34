"""`python -m tests.wlb_process ARGS`: the wlb CLI in its own process, as tests start it (see tests/transitional.py)."""

import sys

from tests.transitional import confirm_transitional_verify

if __name__ == "__main__":
    confirm_transitional_verify(setattr)
    import cli

    sys.exit(cli.main(sys.argv[1:]))
