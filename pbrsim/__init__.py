"""The pbrsim command line and file handling (scenario files, run folders).

The model itself is the ``sim`` package; batches live in ``experiments`` and
figures and reports in ``analysis``.
"""

from pbrsim._version import __version__

__all__ = ["__version__"]
