"""``python -m service`` is the ``ticketsmith`` command."""

from service.cli import main

main()
