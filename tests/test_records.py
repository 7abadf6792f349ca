"""cnncost.records: the plain records of the report path behave as the dataclasses they
replaced (fields in order, == and repr by value, frozen, replace, pickling for sweeps)."""
import pickle

import pytest

from cnncost.core.receptive import Field
from cnncost.errors import Loc
from cnncost.records import FrozenInstanceError, FrozenStruct, Struct
from cnncost.spec.limits import DEFAULT, Limits, parse_limits


class Point(Struct):
    __slots__ = ("x", "y", "note")
    _uncompared = ("note",)

    def __init__(self, x, y, note=""):
        self.x, self.y, self.note = x, y, note


class Pair(FrozenStruct):
    __slots__ = ("a", "b")

    def __init__(self, a, b=0):
        self._init(a=a, b=b)


def test_fields_equality_and_repr_follow_the_slots():
    assert Point.field_names() == ("x", "y", "note")
    assert Point(1, 2, "one") == Point(1, 2, "other")          # an uncompared field does not count
    assert Point(1, 2) != Point(2, 1)
    assert Point(1, 2) != (1, 2)
    assert repr(Point(1, 2, "n")) == "Point(x=1, y=2)"
    with pytest.raises(TypeError):
        hash(Point(1, 2))                                      # mutable: unhashable, as a dataclass
    with pytest.raises(AttributeError):
        Point(1, 2).z = 3                                      # slots: no stray attribute


def test_replace_copies_and_refuses_an_unknown_field():
    p = Point(1, 2, "n")
    q = p.replace(y=5)
    assert (q.x, q.y, q.note, p.y) == (1, 5, "n", 2)
    with pytest.raises(TypeError, match="no field 'z'"):
        p.replace(z=1)
    assert Pair(1).replace(b=2) == Pair(1, 2)


def test_frozen_records_refuse_assignment_and_hash_by_value():
    p = Pair(1, 2)
    with pytest.raises(FrozenInstanceError):
        p.a = 3
    with pytest.raises(AttributeError):
        del p.b
    assert hash(p) == hash(Pair(1, 2)) and {p, Pair(1, 2)} == {p}


def test_records_pickle_for_a_sweeps_worker_processes():
    for value in (Point(1, [2], "n"), Pair(1, (2, 3)), Loc("a.yaml", 3, 4), Limits(max_layers=7),
                  Field((1, 1), (2, 2), (0, 0), whole=True)):
        back = pickle.loads(pickle.dumps(value))
        assert back == value and type(back) is type(value)


def test_loc_is_a_small_value():
    loc = Loc("net.yaml", 3, 7)
    assert (loc.file, loc.line, loc.col) == ("net.yaml", 3, 7)
    assert str(loc) == "net.yaml:3:7" and repr(loc) == "Loc(file='net.yaml', line=3, col=7)"
    assert loc == Loc("net.yaml", 3, 7) and loc != Loc("net.yaml", 3, 8)


def test_limits_by_name_with_defaults():
    assert Limits() == DEFAULT and Limits(max_layers=5).max_layers == 5
    assert Limits(max_layers=5).max_repeat == DEFAULT.max_repeat
    assert parse_limits(["layers=9"]) == Limits(max_layers=9)
    with pytest.raises(TypeError, match="max_bogus"):
        Limits(max_bogus=1)
