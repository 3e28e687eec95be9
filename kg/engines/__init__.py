"""Engines: how the per-study step and the image stage run (``--engine local|processes|ray``).

``local.py`` holds the :class:`Engine` protocol, the in-process and process-pool engines, the registry and
:func:`engine_for`; ``ray_data.py`` the Ray Data engine (imported only when chosen). Engines may import
``kg.core``, ``kg.step`` and ``kg.corpus`` records, and ``embed`` for the image stage; nothing imports an engine
module but the step runner (``kg.runner``) and the build.
"""

from kg.engines.local import ENGINES, Engine, LocalEngine, ProcessEngine, engine_for

__all__ = ["ENGINES", "Engine", "LocalEngine", "ProcessEngine", "engine_for"]
