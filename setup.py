"""The optional C accelerators of rush.protocol.heads, rush.protocol.answers, rush.routetrie
and rush.request; all other metadata is in pyproject.toml.

`optional=True`: where there is no C compiler or no Python headers the build of an
extension fails with a warning and Rush installs with its pure-Python twin (DESIGN.md,
hot-path rule 8).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "rush.protocol._heads",
            ["rush/protocol/_heads.c"],
            depends=["rush/protocol/_message.h"],
            optional=True,
        ),
        Extension(
            "rush.protocol._answers",
            ["rush/protocol/_answers.c"],
            depends=["rush/protocol/_message.h"],
            optional=True,
        ),
        Extension(
            "rush._routewalk", ["rush/_routewalk.c"], depends=["rush/_slots.h"], optional=True
        ),
        Extension(
            "rush._request", ["rush/_request.c"], depends=["rush/_slots.h"], optional=True
        ),
    ],
)
