"""The wheel carries the model files: the top-level ``models/`` (the source of truth in the
repository) is copied into the built package as ``livedj/models/`` (package data, found by
:func:`livedj.resources.model_path` through importlib.resources). Everything else is in
pyproject.toml. An editable install reads ``models/`` of the checkout directly."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

MODELS = Path(__file__).resolve().parent / "models"
SHIPPED = ("*.safetensors", "*.md")  #: weights, heads and their cards (licences)


class BuildPyWithModels(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # the checkout's models/ is used in place
        target = Path(self.build_lib) / "livedj" / "models"
        target.mkdir(parents=True, exist_ok=True)
        for pattern in SHIPPED:
            for source in sorted(MODELS.glob(pattern)):
                shutil.copy2(source, target / source.name)


setup(cmdclass={"build_py": BuildPyWithModels})
