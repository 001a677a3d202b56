"""Small apps the end-to-end server tests run under `python -m rush`."""
