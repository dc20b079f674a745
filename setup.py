"""The site-wide templates/, static/ and locale/ folders are not inside a package:
`pip install .` copies them to <prefix>/share/crmflow/, where config/settings.py looks
when it does not run from a source checkout. Everything else is in pyproject.toml."""

import os

from setuptools import setup

SHARED = ("templates", "static", "locale")


def data_files() -> list[tuple[str, list[str]]]:
    found = []
    for top in SHARED:
        for folder, _dirs, files in os.walk(top):
            if files:
                found.append(
                    (
                        os.path.join("share", "crmflow", folder),
                        [os.path.join(folder, f) for f in files],
                    )
                )
    return found


setup(data_files=data_files())
