#!/usr/bin/env python3
"""Prints the reference of an image pinned in the pin set: repository:tag@digest.

Usage: ci/pin-reference.py images.ci_debian [PINS_FILE]   (default: pins/pins.toml)
Workflows use it where YAML needs an image (a job's `container`), so that no version is
written outside the pin set. It refuses a pin without a digest: run
`cargo xtask pins lock --only <pin>` first. Needs Python 3.11+ (tomllib).
"""
import pathlib
import sys
import tomllib

default = pathlib.Path(__file__).parent.parent / "pins" / "pins.toml"
path = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else default
kind, _, name = sys.argv[1].partition(".")
pin = tomllib.loads(path.read_text())[kind][name]
if not pin.get("digest"):
    sys.exit(f"{path}: {sys.argv[1]} has no digest; lock it: cargo xtask pins lock --only {sys.argv[1]}")
print(f"{pin['repository']}:{pin['tag']}@{pin['digest']}")
