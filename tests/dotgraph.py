"""DOT text read back by Graphviz itself (``dot -Tdot_json``: the graph as parsed, no layout), for tests that check
what a diagram contains (nodes, edges, clusters and their attributes) without matching how it is quoted."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field


@dataclass
class Graph:
    """A graph or one of its clusters: its attributes, its nodes by name, its edges, its clusters by name (the part
    after ``cluster_``) in the order they start in the text, every node, edge and cluster nested inside included."""

    attrs: dict
    nodes: dict[str, dict] = field(default_factory=dict)
    edges: list[tuple[str, str, dict]] = field(default_factory=list)
    clusters: dict[str, Graph] = field(default_factory=dict)

    def labels(self) -> list[str]:
        """The labels of its nodes, edges and the clusters inside it (escString as written, ``\\n`` between lines)."""
        return [a["label"] for a in self.nodes.values()] + [a["label"] for _, _, a in self.edges if a.get("label")] \
            + [c.attrs["label"] for c in self.clusters.values()]

    def edge(self, tail: str, head: str) -> dict:
        """The attributes of the edge ``tail`` → ``head`` (AssertionError when there is none)."""
        found = [a for t, h, a in self.edges if (t, h) == (tail, head)]
        assert found, f"no edge {tail} -> {head}"
        return found[0]


def parse(dot: str) -> Graph:
    """``dot`` as Graphviz reads it (a syntax error fails the test with Graphviz's message)."""
    proc = subprocess.run(["dot", "-Tdot_json"], input=dot.encode(), capture_output=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    data = json.loads(proc.stdout)
    objects, n = data.get("objects", []), data.get("_subgraph_cnt", 0)
    names = {o["_gvid"]: o["name"] for o in objects[n:]}  # a node's _gvid is its index in objects
    index = {name: i for i, name in names.items()}.__getitem__
    edges = [(names[e["tail"]], names[e["head"]], e) for e in data.get("edges", [])]

    def graph(obj: dict) -> Graph:
        inside = set(obj.get("edges", []))
        g = Graph(obj, {names[i]: objects[i] for i in obj.get("nodes", [])},
                  [e for e in edges if e[2]["_gvid"] in inside])
        for i in obj.get("subgraphs", []):
            g.clusters.update(clusters(objects[i]))
        g.clusters = in_order(g.clusters)
        return g

    def in_order(found: dict[str, Graph]) -> dict[str, Graph]:
        """Clusters by their first node (Graphviz numbers nodes as they first appear; it keeps subgraphs by name)."""
        return dict(sorted(found.items(), key=lambda item: min(map(index, item[1].nodes))))

    def clusters(obj: dict) -> dict[str, Graph]:
        """The clusters in the subgraph ``obj``, itself first when it is one."""
        g = graph(obj)
        name = obj["name"].removeprefix("cluster_")
        return {name: g, **g.clusters} if name != obj["name"] else g.clusters

    top = Graph({k: v for k, v in data.items() if k not in ("objects", "edges")},
                {name: objects[i] for i, name in names.items()}, edges)
    for i, obj in enumerate(objects[:n]):
        if not any(i in o.get("subgraphs", []) for o in objects[:n]):  # the top level's own subgraphs
            top.clusters.update(clusters(obj))
    top.clusters = in_order(top.clusters)
    return top
