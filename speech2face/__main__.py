"""`python -m speech2face` runs the same CLI as the `speech2face` script."""

from speech2face.cli import main

raise SystemExit(main())
