"""Every validation pattern refuses what it does not spell out (issue 10, point 6).

``re.match`` with ``$`` accepts a trailing newline (``$`` matches just before
one), so ``{"name": "nl\\n"}`` was registered and served at
``/v1/services/nl%0A``; ``\\d`` took other scripts' digits as version numbers.
"""

import pytest

from manifest_node.fsm import commands as C
from manifest_node.fsm.registry import RegistryState
from manifest_node.fsm.semver import parse_range, parse_version
from manifest_node.fsm.validation import ValidationError, check_id, check_name, validate_registration

# What each pattern must refuse, whatever it accepts: line breaks, NUL, and
# characters that look like the ASCII ones they stand in for.
CONTROL = ["\n", "\r", "\x00", "\r\n", "\t", "\x7f", "\x85", "\u2028"]
CYRILLIC_A, FULLWIDTH_1 = "\u0430", "\uff11"


def bad_variants(good: str) -> list[str]:
    out = [good + c for c in CONTROL] + [c + good for c in CONTROL]
    out += [good[:1] + "\x00" + good[1:], good + CYRILLIC_A, good + FULLWIDTH_1, good + "\u0663"]
    return out


def refused(body: dict) -> str:
    with pytest.raises(ValidationError) as err:
        validate_registration(body)
    return err.value.field


@pytest.mark.parametrize("value", bad_variants("web") + ["w" + CYRILLIC_A + "b"], ids=ascii)
def test_name(value):
    assert refused({"name": value}) == "name"
    with pytest.raises(ValidationError):
        check_name(value)


@pytest.mark.parametrize("value", bad_variants("x1"), ids=ascii)
def test_id(value):
    assert refused({"name": "web", "id": value}) == "id"
    with pytest.raises(ValidationError):
        check_id(value)


@pytest.mark.parametrize("value", bad_variants("1.2.3") + ["\uff11.2.3", "\u0661.\u0662.\u0663", "1.2.3-rc\n",
                                                          "1.2.3+b\n", "v1\n"], ids=ascii)
def test_version(value):
    assert parse_version(value) is None
    assert refused({"name": "web", "version": value}) == "version"


@pytest.mark.parametrize("value", [">=1.2\n", ">=1.2,<2\n", "\u0661", ">=\uff11", "\n>=1", ">=1\x00"], ids=ascii)
def test_version_ranges(value):
    assert parse_range(value) is None


def test_version_ranges_keep_their_spaces():
    assert parse_range(" >= 1.2 , < 2 ") == parse_range(">=1.2,<2")


@pytest.mark.parametrize("value", ["blue" + c for c in CONTROL] + ["\x00", "a\x1bb"], ids=ascii)
def test_tags(value):
    assert refused({"name": "web", "tags": ["ok", value]}) == "tags[1]"


@pytest.mark.parametrize("value", ["region" + c for c in CONTROL] + ["\x00"], ids=ascii)
def test_metadata_keys(value):
    assert refused({"name": "web", "metadata": {value: "eu"}}).startswith("metadata")


@pytest.mark.parametrize("value", bad_variants("http"), ids=ascii)
def test_interface_names(value):
    assert refused({"name": "web", "interfaces": {value: "http://h:1"}}).startswith("interfaces")


@pytest.mark.parametrize("value", ["http://h:1" + c for c in CONTROL], ids=ascii)
def test_interface_endpoints(value):
    assert refused({"name": "web", "interfaces": {"http": value}}) == "interfaces.http"


@pytest.mark.parametrize("value", ["10.0.0.5" + c for c in CONTROL], ids=ascii)
def test_addresses(value):
    assert refused({"name": "web", "address": value}) == "address"


@pytest.mark.parametrize("value", bad_variants("db"), ids=ascii)
def test_dependencies(value):
    assert refused({"name": "web", "dependencies": ["ok", value]}) == "dependencies[1]"


def test_unicode_letters_that_are_not_control_characters_stay_allowed_where_free_text_is():
    fields = validate_registration({"name": "web", "tags": ["café", "a b"], "metadata": {"région": "x\ny"}})
    assert fields["tags"] == ["café", "a b"] and fields["metadata"] == {"région": "x\ny"}


def test_apply_refuses_the_same_as_the_api():
    """A command that reached the log some other way is refused on every node alike."""
    s = RegistryState()
    out = s.apply(C.encode(1000, 1, [C.register({"name": "nl\n", "id": "x"}),
                                     C.register({"name": "web", "id": "x\n"}),
                                     C.register({"name": "web", "id": "x", "dependencies": ["dep\n"]}),
                                     C.heartbeat("web\n", "x")]))
    assert [r.field for r in out.results] == ["name", "id", "dependencies[0]", "name"]
    assert s.revision == 0 and s.instances == {}
