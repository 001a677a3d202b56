"""An app whose import fails: the server must say so and exit at once, not loop."""

raise RuntimeError("this app is broken on purpose (raised by a test)")
