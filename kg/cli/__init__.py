"""The ``kg`` command: a package of thin commands, one module per group (``build``, ``extraction``, ``serving``, ...);
``app.py`` holds the Typer app and the shared options, ``main.py`` the entry point, ``render.py`` the printing.

Commands may import anything of medkg; heavy libraries (torch, transformers, open_clip, faiss, torch_geometric,
pyarrow) are imported inside the commands that use them, so ``kg --help`` stays fast.
"""

from kg.cli.main import app, main

__all__ = ["app", "main"]
