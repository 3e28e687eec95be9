"""`kg eval rag`: what the graph's context changes in a model's answers. ``cases.py`` (the split's images and their
reports' labels), ``settings.py`` (none, fixed:K, ratio:G, auto), ``models.py`` (the baselines, an OpenAI-compatible
endpoint, a transformers folder), ``scoring.py`` (clinical efficacy, VQA, bootstrap, McNemar) and ``run.py``.

It may import ``kg.core``, ``kg.step``, ``kg.rag`` and the stages (``extract``, ``graph``).
"""

from kg.rag_eval.run import EvalRun, evaluate

__all__ = ["EvalRun", "evaluate"]
