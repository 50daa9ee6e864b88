"""`python -m bot` and the `exitcode-bot` script: the command line in `bot.cli`."""

from __future__ import annotations

import sys

from bot.cli import main as cli_main


def main() -> None:
    """Console-script entry point; exits with the code `bot.cli.main` returns."""
    raise SystemExit(cli_main(sys.argv[1:]))


if __name__ == "__main__":
    main()
