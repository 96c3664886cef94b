"""Packages the prebuilt extension modules of build/python (see pyproject.toml).

The extensions are built by CMake, not by setuptools: they are package data here. This file only
marks the distribution as binary, so that its wheel is tagged for this Python and platform.
"""
from setuptools import setup
from setuptools.dist import Distribution


class BinaryDistribution(Distribution):
    """A distribution that holds compiled extensions built outside setuptools."""

    def has_ext_modules(self):
        return True


setup(distclass=BinaryDistribution)
