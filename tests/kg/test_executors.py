"""The executor registry: which engine a build gets for its options, and the options that do not fit."""

import os

import pytest

from kg.core.errors import InvalidInput
from kg.executors import executor_for


def test_the_default_engine_follows_workers():
    assert executor_for(None, None).name == "local" and executor_for(None, None).workers == 1
    assert executor_for(None, 3).name == "processes" and executor_for(None, 3).workers == 3


def test_a_local_ray_instance_gets_every_cpu_unless_workers_says_otherwise():
    pytest.importorskip("ray", reason="the ray extra is not installed")
    assert executor_for("ray", None).workers == (os.cpu_count() or 1)
    assert executor_for("ray", 2).workers == 2
    joined = executor_for(None, None, ray_address="auto")  # on a cluster the pool follows the cluster's CPUs
    assert joined.name == "ray" and joined.address == "auto" and joined.workers == 1


def test_options_of_one_engine_are_refused_on_another():
    with pytest.raises(InvalidInput, match="goes with --engine ray"):
        executor_for("processes", 2, ray_address="auto")
    with pytest.raises(InvalidInput, match="encoder pool"):
        executor_for("local", 1, gpus_per_actor=1)
