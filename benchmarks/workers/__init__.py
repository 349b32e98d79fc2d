"""Scripts the cases start as separate processes (run as files, not imported)."""
