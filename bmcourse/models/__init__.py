"""Models used across the chapters, one file per family."""
