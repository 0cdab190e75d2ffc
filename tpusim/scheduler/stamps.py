"""The pool's change counters: what the scheduler keys its memos on.

The scheduler skips a search when nothing that could change its answer has changed since it
last failed; these counters say what has changed. They are only ever compared for equality with
an earlier reading, so a counter that grows once where it might have grown twice is as good.

- ``epoch`` grows whenever capacity may have grown (a release or a known repair; where spare
  cubes are kept, also a known failure, since a cube broken for whole-cube slices is outside the
  spare cap and a sub-cube slice may then go on its healthy chips): a shape found infeasible
  stays infeasible until it changes. ``whole_epoch`` grows only when capacity for *whole-cube*
  slices may have grown (a cube freed of its last holder, a cube left by its last holder of a
  capped band, a known repair): a release that leaves its cube held cannot make a whole-cube
  shape fit. (Placement is monotone: taking chips and new faults only remove candidates, and
  every policy's choice fails only when no candidate set qualifies; the fault-tolerant rule
  takes the least-faulty cubes, so removing candidates never brings a slice within its fault
  budget.)
- ``version`` grows on every change of holdings or known health.
- ``movable_stamp[b]`` (and per pod ``pod_movable[pod][b]``) grows on every release by band
  ``b`` or a higher one and every change of known health: the only changes that can make cubes
  movable for a job of band ``b`` where the policy's victim search is exact (see
  :meth:`Stamps.movable_since`).
- ``pod_changes[pod]`` grows on every change of ``pod``'s holdings, known health or
  reservations (a pod whose count is unchanged is as it was); ``changed`` collects those pods
  until a reader (the pool's open-cube counts) drains it. Neither is restored by a trial.
- ``taken_by_band[b]``: allocations made by band ``b``, ever.

Invariant: outside a :meth:`Stamps.trial`, every counter only grows, so an equal reading means
no change of its kind in between.
"""

from __future__ import annotations

from contextlib import contextmanager


class Stamps:
    def __init__(self, pods: int, exact: bool, failures_open_places: bool):
        #: the policy's victim search is exact and no spares are kept (see movable_since)
        self.exact = exact
        #: a known failure may open a place (a spare cap is kept: see the module docstring)
        self.failures_open_places = failures_open_places
        self.epoch = 0
        self.whole_epoch = 0
        self.version = 0
        self.taken_by_band = [0, 0, 0]
        self.movable_stamp = [0, 0, 0]  # per band: its or a higher band's releases, known-health changes
        self.pod_changes = [0] * pods
        self.pod_movable = [[0, 0, 0] for _ in range(pods)]
        self.changed = set(range(pods))  # pods changed since a reader last drained this set

    def touch(self, pod: int) -> None:
        """Something of ``pod`` changed: holdings, known health or reservations."""
        self.pod_changes[pod] += 1
        self.changed.add(pod)

    def taken(self, pod: int, band: int) -> None:
        """A job of ``band`` took chips in ``pod``."""
        self.touch(pod)
        self.version += 1
        self.taken_by_band[band] += 1

    def released(self, pod: int, band: int) -> None:
        """A job of ``band`` let go of chips in ``pod`` (the caller advances ``whole_epoch``
        where whole-cube capacity may have grown)."""
        self.touch(pod)
        stamps, pod_stamps = self.movable_stamp, self.pod_movable[pod]
        for b in range(band, 3):  # cubes may become movable for this band and the higher ones
            stamps[b] += 1
            pod_stamps[b] += 1
        self.version += 1
        self.epoch += 1

    def health_changed(self, pod: int, down: bool) -> None:
        """A component of ``pod`` became known down (``down``) or known repaired."""
        self.touch(pod)
        self.version += 1
        for stamps in (self.movable_stamp, self.pod_movable[pod]):
            stamps[0], stamps[1], stamps[2] = stamps[0] + 1, stamps[1] + 1, stamps[2] + 1
        if not down:
            self.epoch += 1
            self.whole_epoch += 1
        elif self.failures_open_places:
            self.epoch += 1

    def movable_since(self, band: int | None = None, pod: int | None = None) -> int:
        """A stamp of the changes that can create a place with victims for a job (of ``band``,
        whose victims are of lower bands; in ``pod``, or anywhere). In general: capacity
        growing, any take (a victim band taking resources; or, under the fault-tolerant rule,
        which looks for no victims while a pod has enough free cubes even if they exceed its
        fault budget, a take of free cubes), or any change of known health (a new fault can
        remove such a cube). Where the policy's victim search is exact
        (:attr:`~tpusim.policies.Policy.exact_victim_search`) and no spares are kept, only a
        release by ``band`` or a higher one (a lower band's take or release leaves every
        movable cube movable) or a change of known health. Equal stamps: no new place
        (checked against the straightforward search in the tests)."""
        if band is None or not self.exact:
            return self.version if pod is None else self.pod_changes[pod]  # every take, release, health change
        return self.movable_stamp[band] if pod is None else self.pod_movable[pod][band]

    def pod_stamps(self, band: int | None = None) -> list[int]:
        """:meth:`movable_since` of every pod, in pod order."""
        if band is None or not self.exact:
            return list(self.pod_changes)
        return [stamps[band] for stamps in self.pod_movable]

    @contextmanager
    def trial(self):
        """Holdings changed inside the block are the caller's to undo; the counters the
        scheduler keys its caches on (``epoch``, ``whole_epoch``, ``version``,
        ``taken_by_band``, ``movable_stamp``) come back as they were, so that a trial leaves no
        trace. (Per-pod counts are not restored: a pod whose holdings came back is as it was,
        and its count only grew.)"""
        saved = self.epoch, self.whole_epoch, self.version, list(self.taken_by_band), list(self.movable_stamp)
        try:
            yield self
        finally:
            self.epoch, self.whole_epoch, self.version, self.taken_by_band, self.movable_stamp = saved
