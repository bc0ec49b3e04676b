"""Static outputs of a finished run (PNG curves)."""
