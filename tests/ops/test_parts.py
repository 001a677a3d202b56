"""The operations pieces on their own: heartbeat slots, module reloading, the source watcher."""

from __future__ import annotations

import sys
import time
import types

from rush.server.heartbeat import LABEL_MAX, Heartbeat
from rush.server.reloader import SourceWatcher, forget_modules, module_files, project_root


def test_a_slot_carries_what_the_worker_writes_to_the_master():
    heartbeat = Heartbeat(slots=4)
    try:
        slot = heartbeat.allocate()
        assert slot is not None
        state = slot.read()
        assert (state.ready, state.wants_replacement, state.beat, state.busy_since) == (
            False,
            False,
            0.0,
            0.0,
        )
        now = time.monotonic()
        slot.beat(now)
        slot.busy(b"GET /x HTTP/1.1", now)
        slot.mark_ready()
        slot.request_replacement()
        state = slot.read()
        assert state.beat == now and state.busy_since == now
        assert state.label == "GET /x HTTP/1.1"
        assert state.ready and state.wants_replacement
        slot.busy(b"x" * 1000, now)
        assert slot.read().label == "x" * LABEL_MAX  # long request lines are cut
        slot.idle()
        assert slot.read().busy_since == 0.0
        assert not slot.retiring
        slot.mark_retiring()
        assert slot.retiring
        heartbeat.drain()  # the notify pipe had bytes; it is empty afterwards
        heartbeat.release(slot)
        assert [heartbeat.allocate() for _ in range(4)].count(None) == 0
        assert heartbeat.allocate() is None  # every slot lent
    finally:
        heartbeat.close()


def test_only_the_projects_own_modules_are_forgotten(tmp_path, monkeypatch):
    package = tmp_path / "proj"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "views.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import proj.views  # noqa: F401

    assert project_root("proj.views") == str(tmp_path.resolve())
    assert set(module_files(str(tmp_path))) == {"proj", "proj.views"}
    fake_rush = types.ModuleType("rush.fake")
    fake_rush.__file__ = str(tmp_path / "rush" / "fake.py")
    monkeypatch.setitem(sys.modules, "rush.fake", fake_rush)
    assert "rush.fake" not in module_files(str(tmp_path))  # rush itself is never reloaded
    assert sorted(forget_modules(str(tmp_path))) == ["proj", "proj.views"]
    assert "proj.views" not in sys.modules
    assert "json" in sys.modules or True  # the standard library is left alone


def test_the_source_watcher_sees_a_saved_python_file(tmp_path):
    source = tmp_path / "app.py"
    source.write_text("A = 1\n")
    watcher = SourceWatcher([str(source)])
    try:
        assert watcher.changed() == []
        (tmp_path / "notes.txt").write_text("not code")
        assert watcher.changed() == []
        replacement = tmp_path / ".app.py.tmp"
        replacement.write_text("A = 2\n")
        replacement.rename(source)  # how many editors save
        assert watcher.changed() == ["app.py"]
    finally:
        watcher.close()
