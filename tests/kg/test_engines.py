"""The engine registry: which engine a build gets for its options, and the options that do not fit."""

import os

import pytest

from kg.core.errors import InvalidInput
from kg.engines import engine_for


def test_the_default_engine_follows_workers():
    assert engine_for(None, None).name == "local" and engine_for(None, None).workers == 1
    assert engine_for(None, 3).name == "processes" and engine_for(None, 3).workers == 3


def test_a_local_ray_instance_gets_every_cpu_unless_workers_says_otherwise():
    pytest.importorskip("ray", reason="the ray extra is not installed")
    assert engine_for("ray", None).workers == (os.cpu_count() or 1)
    assert engine_for("ray", 2).workers == 2
    joined = engine_for(None, None, ray_address="auto")  # on a cluster the pool follows the cluster's CPUs
    assert joined.name == "ray" and joined.address == "auto" and joined.workers == 1


def test_options_of_one_engine_are_refused_on_another():
    with pytest.raises(InvalidInput, match="goes with --engine ray"):
        engine_for("processes", 2, ray_address="auto")
    with pytest.raises(InvalidInput, match="encoder pool"):
        engine_for("local", 1, gpus_per_actor=1)
