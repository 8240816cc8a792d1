"""autobahn (Daphne's WebSocket library) builds the arguments of its debug lines even when
debug is off: in `sendData`, for every frame to every viewer, three `click.style` calls that
colour text nobody sees (~8% of a fanout process's CPU with 1,000 viewers,
docs/performance.md). Without click it builds them as plain text; the lines that are logged
(Daphne at -v 2) only lose their colours."""

from __future__ import annotations

import autobahn.util

WRITTEN_FOR = {"autobahn": "26.11"}


def plain_highlights() -> None:
    autobahn.util._HAS_CLICK = False
