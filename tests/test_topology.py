"""Topology counts and wiring (DESIGN §1), including non-default sizes."""

import networkx as nx
import pytest

from tpusim.topology import (
    CubeLayout,
    MachineLayout,
    SliceShape,
    preflight,
    reconfigurable_wiring,
    slice_graph,
    static_boxes,
    static_wiring,
)


def test_tpuv4_cube_counts():
    cube = CubeLayout((4, 4, 4), 4)
    assert cube.chips == 64 and cube.hosts == 16
    assert len(cube.electrical_links) == 144
    assert len(cube.ports) == 96
    assert cube.links == 240
    # every chip is in exactly one host
    assert sorted(c for h in range(cube.hosts) for c in cube.host_chips(h)) == list(range(64))


def test_pod_counts():
    m = MachineLayout(CubeLayout(), (4, 4, 4), 1)
    assert m.cubes == 64 and m.chips == 4096 and m.ocs_per_pod == 48
    assert m.population("host") == 1024
    assert m.population("ici_link") == 64 * 240
    assert m.population("ocs") == 48


def test_ports_sit_on_their_face_and_pair_up():
    cube = CubeLayout((4, 4, 4), 4)
    for port in cube.ports:
        coords = cube.chip_coords(cube.port_chip(port))
        assert coords[port.d] == (3 if port.sign > 0 else 0)
        assert cube.face_position(cube.port_chip(port), port.d) == port.p
    for d in range(3):  # +d port p and -d port p lie on one line along d
        for p in range(16):
            a = cube.chip_coords(cube.port_chip(cube.ports[cube.port_index(d, +1, p)]))
            b = cube.chip_coords(cube.port_chip(cube.ports[cube.port_index(d, -1, p)]))
            assert [x for i, x in enumerate(a) if i != d] == [x for i, x in enumerate(b) if i != d]


def test_ocs_holds_one_port_pair_per_cube():
    m = MachineLayout()
    assert len(m.ocs_chips) == 48
    assert len({pair for pair in m.ocs_chips}) == 48  # every OCS holds a different port pair
    for local, (plus, minus) in enumerate(m.ocs_chips):
        d, p = m.ocs_dp(local)
        assert m.ocs_index(d, p) == local
        assert m.cube.face_position(plus, d) == p == m.cube.face_position(minus, d)


@pytest.mark.parametrize("cube_dims", [(1, 1, 1), (1, 1, 2), (1, 2, 2), (2, 2, 2), (1, 3, 2), (3, 4, 4)])
def test_reconfigurable_slice_is_a_torus_with_48k_circuits(cube_dims):
    cube = CubeLayout()
    k = cube_dims[0] * cube_dims[1] * cube_dims[2]
    wiring = reconfigurable_wiring(cube, list(range(100, 100 + k)), cube_dims)
    assert len(wiring.connections) == 48 * k
    g = slice_graph(cube, wiring)
    assert g.number_of_nodes() == 64 * k
    assert all(deg == 6 for _, deg in g.degree())
    assert g.number_of_edges() == 3 * 64 * k  # a 3D torus has 3 edges per node
    slice_dims = tuple(4 * c for c in cube_dims)
    assert preflight(g, slice_dims).ok
    # each OCS carries exactly k circuits of the slice
    per_ocs = {}
    for conn in wiring.connections:
        per_ocs[(conn.d, conn.p)] = per_ocs.get((conn.d, conn.p), 0) + 1
    assert len(per_ocs) == 48 and set(per_ocs.values()) == {k}


def test_preflight_finds_a_missing_link():
    cube = CubeLayout()
    wiring = reconfigurable_wiring(cube, [0, 1], (1, 1, 2))
    g = slice_graph(cube, wiring)
    u, v = next((u, v) for u, v, kind in g.edges(data="kind") if kind == "optical")
    g.remove_edge(u, v)
    report = preflight(g, (4, 4, 8))
    assert not report.ok and len(report.missing) == 2  # both ends miss their neighbour
    assert report.reached == report.chips  # still connected: one lost link does not split a torus


def test_preflight_finds_a_disconnected_slice():
    cube = CubeLayout()
    g = slice_graph(cube, reconfigurable_wiring(cube, [0], (1, 1, 1)))
    g.remove_edges_from([e for e in list(g.edges) if g.nodes[e[0]]["pos"][2] == 1 and g.nodes[e[1]]["pos"][2] == 2])
    g.remove_edges_from([(u, v) for u, v, k in list(g.edges(data="kind")) if k == "optical" and u[1] // 16 != v[1] // 16])
    report = preflight(g, (4, 4, 4))
    assert not nx.is_connected(g) and report.reached < report.chips and not report.ok


def test_static_box_wraps_only_along_full_dimensions():
    m = MachineLayout(CubeLayout(), (4, 4, 4), 1)
    box = next(b for b in static_boxes((4, 4, 4), (1, 1, 4), wrap=True) if b.dims == (1, 1, 4))
    wiring = static_wiring(m, 0, box)
    assert wiring.wrap == (False, False, True)
    g = slice_graph(m.cube, wiring)
    assert preflight(g, (4, 4, 16), wiring.wrap).ok
    assert not preflight(g, (4, 4, 16)).ok  # it is not a torus along x and y
    full = static_boxes((4, 4, 4), (4, 4, 4), wrap=True)
    assert len(full) == 1
    g = slice_graph(m.cube, static_wiring(m, 0, full[0]))
    assert all(deg == 6 for _, deg in g.degree()) and preflight(g, (16, 16, 16)).ok


def test_static_boxes_cover_every_orientation_inside_the_grid():
    boxes = static_boxes((4, 4, 4), (1, 1, 2), wrap=False)
    assert len(boxes) == 3 * 4 * 4 * 3  # three orientations, 4*4*3 origins each
    assert all(all(o + d <= 4 for o, d in zip(b.origin, b.dims)) for b in boxes)
    assert static_boxes((4, 4, 4), (1, 1, 5), wrap=False) == ()


def test_static_boxes_straddle_the_wrap_of_a_torus_of_cubes():
    boxes = static_boxes((4, 4, 4), (1, 1, 2), wrap=True)
    assert len(boxes) == 3 * 4 * 4 * 4  # every origin: the box may cross the grid's ends
    crossing = next(b for b in boxes if b.dims == (1, 1, 2) and b.origin == (0, 0, 3))
    assert crossing.cells() == [(0, 0, 3), (0, 0, 0)]  # joined by the wraparound cable
    m = MachineLayout(CubeLayout(), (4, 4, 4), 1)
    wiring = static_wiring(m, 0, crossing)
    assert list(wiring.slots.values()) == [m.grid_index(0, 0, 3), m.grid_index(0, 0, 0)]
    assert wiring.wrap == (False, False, False)  # a mesh along z: it does not span the grid
    assert preflight(slice_graph(m.cube, wiring), (4, 4, 8), wiring.wrap).ok
    # a box that spans a dimension fully has one origin along it, with or without wrap
    assert len(static_boxes((4, 4, 4), (4, 4, 3), wrap=True)) == 3 * 4
    assert len(static_boxes((4, 4, 4), (4, 4, 3), wrap=False)) == 3 * 2


def test_non_default_sizes_come_from_the_layout():
    cube = CubeLayout((2, 4, 6), 2)
    assert cube.chips == 48 and cube.hosts == 24
    assert len(cube.electrical_links) == 1 * 4 * 6 + 2 * 3 * 6 + 2 * 4 * 5
    assert len(cube.ports) == 2 * (24 + 12 + 8)
    m = MachineLayout(cube, (2, 2, 3), 3)
    assert m.ocs_per_pod == 24 + 12 + 8 and m.cubes == 36
    wiring = reconfigurable_wiring(cube, list(range(4)), (1, 2, 2))
    assert len(wiring.connections) == m.ocs_per_pod * 4
    assert preflight(slice_graph(cube, wiring), (2, 8, 12)).ok


def test_slice_shape_parsing():
    s = SliceShape.parse("4x4x8")
    assert s.chips == 128 and s.cube_dims((4, 4, 4)) == (1, 1, 2) and s.label == "4x4x8"
    with pytest.raises(ValueError, match="whole number"):
        SliceShape.parse("4x4x6").cube_dims((4, 4, 4))
    for bad in ("4x4", "axbxc", "0x4x4", 7):
        with pytest.raises(ValueError):
            SliceShape.parse(bad)


def test_a_host_is_a_2x2x1_tray_and_a_4_chip_job_is_one_host():
    """TPU v4: a host is a 2x2x1 tray of chips (not a 4x1x1 row): checked from chip coordinates."""
    from tpusim.scheduler.blocks import block_level, block_masks

    cube = CubeLayout((4, 4, 4), 4)
    seen = set()
    for h in range(cube.hosts):
        coords = [cube.chip_coords(c) for c in cube.host_chips(h)]
        xs, ys, zs = ({p[i] for p in coords} for i in range(3))
        assert len(xs) == 2 and len(ys) == 2 and len(zs) == 1 and min(xs) % 2 == 0 and min(ys) % 2 == 0
        seen |= set(cube.host_chips(h))
    assert len(seen) == 64  # the trays tile the cube
    level = block_level((4, 4, 4), (2, 2, 1))
    hosts = {sum(1 << c for c in cube.host_chips(h)) for h in range(cube.hosts)}
    assert set(block_masks((4, 4, 4), 4)[level]) == hosts  # every 4-chip block is exactly one host
    assert CubeLayout((2, 2, 2), 2).tray == (2, 1, 1) and CubeLayout((4, 4, 4), 8).tray == (2, 2, 2)


@pytest.mark.parametrize("shape, per_host", [((4, 4, 4), 4), ((2, 2, 2), 1), ((2, 2, 4), 2), ((2, 4, 6), 2),
                                             ((4, 4, 4), 8), ((4, 4, 4), 2)])
def test_the_cube_numbers_its_parts_as_the_reference_writes_them_out(shape, per_host):
    """The trace's unit numbers mean the same to the package and to tests/reference.py, whose
    geometry is written out independently from the documented numbering."""
    from reference import Cube

    mine, cube = Cube(shape, per_host), CubeLayout(shape, per_host)
    assert [set(cube.host_chips(h)) for h in range(cube.hosts)] == mine.host_chips
    assert [tuple(c) for c in cube.link_chips] == mine.link_chips and cube.electrical_count == mine.electrical
    assert [(p.d, p.sign, p.p) for p in cube.ports] == mine.ports
    assert [tuple(c) for c in MachineLayout(cube, (2, 2, 2), 1).ocs_chips] == mine.ocs_chips
