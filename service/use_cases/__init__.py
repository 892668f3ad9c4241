"""Use cases, grouped by who uses them; composed into the application."""
