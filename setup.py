"""Packages for the wheel; everything else about the package is in pyproject.toml.

Only here because pyproject.toml's automatic discovery cannot add one mapped folder: the
repo keeps the shipped models at the top level (`models/`, next to their training script),
and the wheel carries them inside the package as `sketchlab/shipped_models/<kind>/`, where
`sketchlab.settings` looks for them once installed.
"""

from setuptools import find_packages, setup

SHIPPED = "sketchlab.shipped_models"

setup(
    packages=find_packages(include=["sketchlab", "sketchlab.*"]) + [SHIPPED],
    package_dir={SHIPPED: "models"},
    package_data={SHIPPED: ["*/model.keras", "*/card.json", "README.md", "kfold.json"]},
)
