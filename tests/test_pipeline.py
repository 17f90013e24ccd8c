"""The pipeline model: operations, the recorded DAG, JSON form and validation."""
from __future__ import annotations

import copy
import json

import pytest

from jupyter_pipelines import Input, Output, Pipeline, PipelineError, operation
from jupyter_pipelines.errors import BadRequest
from jupyter_pipelines.pipeline import Operation, Ref


@operation
def load(n: int = 10):
    return list(range(n))


@operation(outputs=("train", "test"))
def split(data, ratio: float = 0.8):
    k = int(len(data) * ratio)
    return data[:k], data[k:]


@operation
def combine(left, right, flag: bool = False):
    return left + right


def build() -> Pipeline:
    with Pipeline("demo", project="proj") as p:
        data = load(n=20)
        train, test = split(data, ratio=0.5)
        both = combine(train, test)
        Output(both, name="all-data")
    return p


def test_operation_decorator_inputs_attributes_outputs() -> None:
    assert isinstance(load, Operation) and isinstance(split, Operation)
    assert load.inputs == () and load.outputs == ("output",)
    assert load.attributes == {"n": {"type": "int", "default": 10}}
    assert split.inputs == ("data",)
    assert split.outputs == ("train", "test")
    assert split.attributes["ratio"] == {"type": "float", "default": 0.8}
    assert combine.inputs == ("left", "right") and combine.attributes["flag"]["type"] == "bool"
    assert load.__name__ == "load" and load.name == "load"


def test_outputs_need_distinct_names() -> None:
    with pytest.raises(PipelineError, match="distinct"):
        operation(outputs=("a", "a"))(lambda x: x)


def test_operation_outside_a_pipeline_runs_the_function() -> None:
    assert load(n=3) == [0, 1, 2]
    assert split([1, 2, 3, 4], ratio=0.5) == ([1, 2], [3, 4])


def test_pipeline_context_records_the_dag() -> None:
    p = build()
    assert list(p.nodes) == ["load", "split", "combine", "all-data"]
    assert p.nodes["load"].attributes == {"n": 20}
    assert p.nodes["split"].attributes == {"ratio": 0.5}
    assert p.nodes["split"].inputs == {"data": Ref("load", "output")}
    assert p.nodes["combine"].inputs == {"left": Ref("split", "train"), "right": Ref("split", "test")}
    assert p.nodes["combine"].attributes == {"flag": False}  # defaults are recorded
    assert p.nodes["all-data"].kind == "output" and p.nodes["all-data"].inputs == {"data": Ref("combine")}
    assert set(p.operations) == {"load", "split", "combine"}
    assert "def split(data, ratio: float = 0.8):" in p.operations["split"].source
    assert p.dependencies("combine") == {"split"}
    assert p.topological_order() == ["load", "split", "combine", "all-data"]
    assert p.downstream(["split"]) == {"split", "combine", "all-data"}


def test_outputs_unpack_as_tuple() -> None:
    with Pipeline("unpack") as p:
        result = split(load())
        assert isinstance(result, tuple) and len(result) == 2
        assert [r.ref for r in result] == [Ref("split", "train"), Ref("split", "test")]
        single = load()
        assert not isinstance(single, tuple)
    assert p.nodes["load_2"].kind == "operation"


def test_node_ids_are_suffixed() -> None:
    with Pipeline("many") as p:
        a = load()
        b = load(n=2)
        c = load(n=3)
        combine(a, b)
        combine(b, c)
    assert list(p.nodes) == ["load", "load_2", "load_3", "combine", "combine_2"]
    assert p.nodes["combine_2"].inputs["left"] == Ref("load_2")
    assert set(p.operations) == {"load", "combine"}  # one definition shared by the calls


def test_json_round_trip_and_stable_digest() -> None:
    p = build()
    again = Pipeline.from_json(p.to_json())
    assert again.to_dict() == p.to_dict()
    assert again.digest() == p.digest() == build().digest()
    assert Pipeline.from_dict(json.loads(json.dumps(p.to_dict()))).digest() == p.digest()
    other = p.to_dict()
    other["nodes"][0]["attributes"]["n"] = 21
    assert Pipeline.from_dict(other).digest() != p.digest()


def test_from_dict_fills_attribute_defaults() -> None:
    data = build().to_dict()
    data["nodes"][2]["attributes"] = {}
    assert Pipeline.from_dict(data).nodes["combine"].attributes == {"flag": False}


def test_unknown_input_name() -> None:
    data = build().to_dict()
    data["nodes"][1]["inputs"]["dataz"] = {"node": "load", "output": "output"}
    with pytest.raises(PipelineError, match=r"unknown input 'dataz'.*\['data'\]"):
        Pipeline.from_dict(data)


def test_input_referring_to_unknown_node_or_output() -> None:
    data = build().to_dict()
    data["nodes"][1]["inputs"]["data"] = {"node": "nowhere", "output": "output"}
    with pytest.raises(PipelineError, match="unknown node 'nowhere'"):
        Pipeline.from_dict(data)
    data = build().to_dict()
    data["nodes"][2]["inputs"]["left"] = {"node": "split", "output": "validation"}
    with pytest.raises(PipelineError, match="no output 'validation'"):
        Pipeline.from_dict(data)


def test_wrong_arity_too_many_args() -> None:
    with pytest.raises(PipelineError, match=r"split\(\).*too many positional arguments"):
        with Pipeline("arity"):
            data = load()
            split(data, 0.5, 3)


def test_wrong_arity_unknown_kwarg() -> None:
    with pytest.raises(PipelineError, match=r"load\(\).*unexpected keyword argument 'size'"):
        with Pipeline("arity"):
            load(size=3)


def test_missing_input_when_calling() -> None:
    with pytest.raises(PipelineError, match=r"split\(\).*missing a required argument: 'data'"):
        with Pipeline("missing"):
            split(ratio=0.2)


def test_missing_input_in_json() -> None:
    data = build().to_dict()
    data["nodes"][2]["inputs"].pop("right")
    with pytest.raises(PipelineError, match=r"node 'combine' is missing input\(s\) \['right'\]"):
        Pipeline.from_dict(data)


def test_input_must_be_a_node_output() -> None:
    with pytest.raises(PipelineError, match="input 'data' of 'split' must be the output"):
        with Pipeline("plain"):
            split([1, 2, 3])


def test_duplicate_node_ids_in_json() -> None:
    data = build().to_dict()
    data["nodes"].append(copy.deepcopy(data["nodes"][0]))
    with pytest.raises(PipelineError, match="duplicate node id 'load'"):
        Pipeline.from_dict(data)


def test_cycle_in_json_is_listed() -> None:
    with Pipeline("loop") as p:
        a = combine(Input("x"), Input("y"))
        combine(a, a)
    data = p.to_dict()
    # combine -> combine_2 -> combine
    data["nodes"][2]["inputs"]["left"] = {"node": "combine_2", "output": "output"}
    with pytest.raises(PipelineError, match="cycle: combine -> combine_2 -> combine"):
        Pipeline.from_dict(data)


def test_self_loop_is_a_cycle() -> None:
    data = build().to_dict()
    data["nodes"][1]["inputs"]["data"] = {"node": "split", "output": "train"}
    with pytest.raises(PipelineError, match="cycle: split -> split"):
        Pipeline.from_dict(data)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": "ten"}, "attribute 'n' of 'load' must be int, got str 'ten'"),
        ({"n": 2.5}, "attribute 'n' of 'load' must be int, got float 2.5"),
        ({"n": True}, "attribute 'n' of 'load' must be int, got bool True"),
    ],
)
def test_attribute_of_wrong_type(kwargs, message) -> None:
    with pytest.raises(PipelineError, match=message):
        with Pipeline("types"):
            load(**kwargs)


def test_bool_is_not_a_float_but_int_is() -> None:
    with Pipeline("types") as p:
        d = load()
        split(d, ratio=1)
    assert p.nodes["split"].attributes["ratio"] == 1
    with pytest.raises(PipelineError, match="must be float, got bool"):
        with Pipeline("types"):
            split(load(), ratio=False)


def test_attribute_of_wrong_type_in_json() -> None:
    data = build().to_dict()
    data["nodes"][0]["attributes"]["n"] = True
    with pytest.raises(PipelineError, match="attribute 'n' of 'load' must be int, got bool"):
        Pipeline.from_dict(data)
    data = build().to_dict()
    data["nodes"][0]["attributes"]["size"] = 3
    with pytest.raises(PipelineError, match="unknown attribute 'size'"):
        Pipeline.from_dict(data)


def test_attribute_cannot_take_a_node_output() -> None:
    with pytest.raises(PipelineError, match="'ratio' of 'split' is an attribute"):
        with Pipeline("attr"):
            d = load()
            split(d, ratio=d)


def test_unknown_operation_in_json() -> None:
    data = build().to_dict()
    data["nodes"][0]["operation"] = "nope"
    with pytest.raises(PipelineError, match="node 'load' uses unknown operation 'nope'"):
        Pipeline.from_dict(data)


def test_malformed_json() -> None:
    with pytest.raises(PipelineError, match="not valid JSON"):
        Pipeline.from_json("{nope")
    with pytest.raises(PipelineError, match="malformed pipeline JSON"):
        Pipeline.from_dict({"name": "x"})


def test_pipeline_errors_are_bad_requests_and_bad_names() -> None:
    assert issubclass(PipelineError, BadRequest)
    with pytest.raises(PipelineError, match="bad pipeline name"):
        Pipeline("a/b")
    with pytest.raises(PipelineError, match="bad project name"):
        Pipeline("ok", project="../x")


def test_input_and_output_outside_a_pipeline() -> None:
    with pytest.raises(PipelineError, match="inside a 'with Pipeline"):
        Input("raw")


def test_with_sources_edits_an_operation() -> None:
    p = build()
    edited = p.with_sources({"load": "def load(n: int = 10):\n    return [n]\n"})
    assert edited.operations["load"].source.endswith("return [n]\n")
    assert edited.digest() != p.digest()
    with pytest.raises(PipelineError, match="unknown operation 'nope'"):
        p.with_sources({"nope": "x"})
