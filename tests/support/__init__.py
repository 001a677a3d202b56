"""Test machinery shared by more than one suite (DESIGN.md, Tests)."""
