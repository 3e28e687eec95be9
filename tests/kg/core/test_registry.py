"""kg/core/registry.py: specs, versions and the one unknown-name error."""

import pytest

from kg.core.errors import InvalidInput
from kg.core.registry import Registry, Spec


def test_spec_parsing_keeps_everything_after_the_first_colon():
    assert Spec.parse("rules") == Spec("rules", None, None)
    assert Spec.parse("rules:literal") == Spec("rules", None, "literal")
    assert Spec.parse("open_clip:hf-hub:org/repo") == Spec("open_clip", None, "hf-hub:org/repo")
    assert Spec.parse("rules.v2:literal") == Spec("rules", 2, "literal")
    assert str(Spec.parse("rules.v2:literal")) == "rules.v2:literal"
    with pytest.raises(InvalidInput, match="not a extractor name|not a"):
        Spec.parse("Bad Name", kind="extractor")


def test_registry_picks_the_newest_version_and_lists_choices():
    r: Registry[str] = Registry("encoder", option="--encoder")

    @r.register("pixels")
    def v1(arg):
        return f"v1:{arg}"

    r.add("pixels", lambda arg: f"v2:{arg}", version=2)
    r.add("open_clip", lambda arg: f"oc:{arg}")
    assert r.create("pixels:32") == "v2:32"
    assert r.create("pixels.v1") == "v1:None"
    assert r.names() == ["open_clip", "pixels"] and "pixels" in r
    with pytest.raises(InvalidInput, match="unknown encoder 'clip'.*--encoder: open_clip, pixels"):
        r.create("clip")
    with pytest.raises(InvalidInput, match="no version 3.*pixels.v1, pixels.v2"):
        r.create("pixels.v3")
