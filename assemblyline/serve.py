"""The serve entry point: `python -m assemblyline.serve [Daphne's options]`.

Imports the application, then does what a serving process does once and an import must not
(a test that imports assemblyline.asgi stays as it was): registers in SERVICE_REGISTRY.json
with REGISTER_ON_START, tunes the process (core/runtime/process.py), and runs Daphne on
`assemblyline.asgi:application`. deploy/start.sh, `assemblyline serve`, the bench and the
tests' real servers all start here."""

from __future__ import annotations

import sys

from daphne.cli import CommandLineInterface

import assemblyline.asgi  # noqa: F401  (django.setup() and the application, first)
from core.registry import register_on_start
from core.runtime.process import tune_process


def main(argv: list[str] | None = None) -> None:
    register_on_start()
    # After the application is imported: what start-up made is frozen out of the collector.
    tune_process()
    CommandLineInterface().run(
        [*(sys.argv[1:] if argv is None else argv), "assemblyline.asgi:application"]
    )


if __name__ == "__main__":
    main()
