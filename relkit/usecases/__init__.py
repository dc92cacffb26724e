"""relkit's use cases: one module each, called through the façade :mod:`relkit.api`.

- :mod:`~relkit.usecases.gates`: validate a manifest, evaluate gates, overrides
- :mod:`~relkit.usecases.prepare`, :mod:`~relkit.usecases.deploy`,
  :mod:`~relkit.usecases.rollback`, :mod:`~relkit.usecases.health`: the play-driven steps
- :mod:`~relkit.usecases.procedure`: the signed acts (approve, verify, close)
- :mod:`~relkit.usecases.notices`: announcements and rollback notices
- :mod:`~relkit.usecases.reports`: the release report
- :mod:`~relkit.usecases.records`: status, ledger, locks, snapshots

A play-driven run is a :class:`~relkit.usecases.runs.Run`: its ledger record
(:mod:`~relkit.usecases.recording`), its notices (:mod:`~relkit.usecases.notifying`) and its
plays with their secrets served (:mod:`~relkit.usecases.playing`). Use cases never import
:mod:`relkit.api`.
"""
