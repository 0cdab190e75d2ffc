"""Topology: chips, hosts and cubes, the pod's cube grid and OCS bank, slice graphs and the
placement rules of the static and reconfigurable policies (DESIGN §1)."""

from tpusim.topology.cube import CubeLayout, Port
from tpusim.topology.graph import (
    Connection,
    NO_CIRCUITS,
    FaceCircuits,
    SliceCircuits,
    SliceWiring,
    face_joins,
    preflight,
    reconfigurable_wiring,
    slice_graph,
    static_wiring,
)
from tpusim.topology.machine import COMPONENT_CLASSES, MachineLayout
from tpusim.topology.placement import (
    Box,
    place_reconfigurable,
    place_static,
    static_box_masks,
    static_boxes,
)
from tpusim.topology.shapes import SliceShape

__all__ = [
    "COMPONENT_CLASSES",
    "Box",
    "Connection",
    "CubeLayout",
    "FaceCircuits",
    "NO_CIRCUITS",
    "MachineLayout",
    "Port",
    "SliceCircuits",
    "SliceShape",
    "SliceWiring",
    "face_joins",
    "place_reconfigurable",
    "place_static",
    "preflight",
    "reconfigurable_wiring",
    "slice_graph",
    "static_box_masks",
    "static_boxes",
    "static_wiring",
]
