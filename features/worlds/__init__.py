"""Simulated worlds for evaluation: different generative stories, each with its oracle.

The demo's simulator (``features/simulate.py``) is one story; a model tuned on it alone
learns that story. Each module here tells another, written from scratch, in which
buying state shows only weakly in the events. Every world:

* ``NAME`` and a module docstring telling the story, what is hidden, and what its
  oracle (``p_true``) conditions on;
* ``SETTINGS``: the params.yaml overrides an analyst would write for that export
  (its vocabulary, roles, points), as dotted keys for ``pipelines.config.load_params``;
* ``generate(out, leads, seed, start, weeks, horizon_days) -> dict`` writing the
  contract's tables (Parquet) and ``truth.parquet`` (lead_id, cutoff, p_true) for
  every Monday cutoff and every lead created before it.

The demo's own world, ``features/simulate.py``, is the fourth story: ``pipelines/generate.py``
writes it in chunks (it scales to millions of leads) and ``params.yaml`` is its settings.
``leadscore generate --world NAME`` writes any of them; ``leadscore evaluate``
(``pipelines/evaluate.py``) runs the pipeline on all of them.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from features.errors import UserError

DEMO = "demo"
WORLDS = {"committee": "features.worlds.committee", "product_led": "features.worlds.product_led"}
NAMES = (DEMO, *WORLDS)


def world(name: str) -> ModuleType:
    """The module of a world written here (not the demo's)."""
    if name not in WORLDS:
        raise UserError(f"unknown world {name!r}; known: {', '.join(NAMES)}")
    return importlib.import_module(WORLDS[name])


def settings(name: str) -> dict[str, object]:
    """The params.yaml overrides for a world's export (none for the demo: params.yaml is written for it)."""
    return {} if name == DEMO else dict(world(name).SETTINGS)
