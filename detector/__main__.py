"""``python -m detector`` runs the command-line interface."""

from detector.cli import main

raise SystemExit(main())
