"""Notes: a small multi-page Rush app (blueprints, templates, sessions, uploads, a JSON API)."""
