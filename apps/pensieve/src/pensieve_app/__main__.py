"""``python -m pensieve_app`` runs the ``pensieve`` command."""

from pensieve_app.cli import main

main()
