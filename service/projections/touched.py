"""What the log touched since a position: the aggregates written, by the module of their topic,
read from the notifications' topics and ids alone (nothing is decoded). The in-process read models
(the roster cache, the watcher's deadline index) take in only those."""

from __future__ import annotations

from eventsourcing.persistence import ApplicationRecorder


def touched_since(recorder: ApplicationRecorder, position: int, upto: int, modules: set[str],
                  batch_size: int) -> tuple[int, dict[str, set[str]]]:
    """The ids of the aggregates of each of ``modules`` written after ``position`` up to ``upto``,
    and the position read to (``upto``, or further when the log was read past it)."""
    found: dict[str, set[str]] = {m: set() for m in modules}
    while position < upto:
        notes = recorder.select_notifications(position, batch_size, stop=upto, inclusive_of_start=False)
        if not notes:
            break
        for n in notes:
            ids = found.get(n.topic.partition(":")[0])
            if ids is not None:
                ids.add(str(n.originator_id))
        position = notes[-1].id
    return max(position, upto), found
