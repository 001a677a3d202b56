"""Type stub of the C accelerator; the twin and the documentation are in routetrie.py."""

from typing import Any

from rush.routetrie import Edge, Leaf, Matcher, Node
from rush.routing import Route

NONEMPTY: int
DIGITS: int
MAX_VALUES: int

class Walker:
    def __init__(
        self,
        root: Node,
        fallback: Matcher,
        node_type: type[Node],
        edge_type: type[Edge],
        leaf_type: type[Leaf],
        /,
    ) -> None: ...
    def __call__(self, path: str, /) -> tuple[Route, dict[str, Any]] | None: ...
