"""`python -m yolocls` entry point."""

from yolocls.cli import main

raise SystemExit(main())
