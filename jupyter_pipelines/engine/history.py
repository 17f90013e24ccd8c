"""The version history seen from a snapshot: an execution's graph, and what changed between two commits."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def graph_of(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """Nodes (operations, inputs, outputs) and edges labelled with the output they carry."""
    nodes, edges = [], []
    for node in snapshot["nodes"]:
        label = node.get("artifact") if node["kind"] != "operation" else node.get("operation") or node["id"]
        nodes.append({"id": node["id"], "kind": node["kind"], "label": label or node["id"],
                      "operation": node.get("operation"), "artifact": node.get("artifact"),
                      "attributes": dict(node.get("attributes") or {})})
        for input_name, ref in (node.get("inputs") or {}).items():
            edges.append({"source": ref["node"], "target": node["id"], "output": ref.get("output", "output"),
                          "input": input_name})
    return {"nodes": nodes, "edges": edges}


def operations_of(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """Each operation's source and signature, by operation key."""
    return {key: {"source": op["source"], "inputs": list(op.get("inputs", [])), "outputs": list(op.get("outputs", [])),
                  "attributes": dict(op.get("attributes") or {})}
            for key, op in snapshot["operations"].items()}


def snapshot_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Nodes added, removed and changed (source or attributes) between two pipeline snapshots."""
    old_nodes = {n["id"]: n for n in old["nodes"]}
    new_nodes = {n["id"]: n for n in new["nodes"]}
    changed = []
    for node_id in [n for n in new_nodes if n in old_nodes]:
        before, after = old_nodes[node_id], new_nodes[node_id]
        old_source = old["operations"].get(before.get("operation") or "", {}).get("source")
        new_source = new["operations"].get(after.get("operation") or "", {}).get("source")
        keys = sorted(set(before.get("attributes", {})) | set(after.get("attributes", {})))
        attributes = {k: [before["attributes"].get(k), after["attributes"].get(k)] for k in keys
                      if before["attributes"].get(k) != after["attributes"].get(k)}
        if old_source != new_source or attributes or before.get("inputs") != after.get("inputs"):
            changed.append({"node": node_id, "source_changed": old_source != new_source, "attributes": attributes,
                            "inputs_changed": before.get("inputs") != after.get("inputs"),
                            "old_source": old_source, "new_source": new_source})
    return {"added": sorted(set(new_nodes) - set(old_nodes)), "removed": sorted(set(old_nodes) - set(new_nodes)),
            "changed": changed}

