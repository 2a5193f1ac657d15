"""`outboard demo` finds the sessions it streams and prints (configs/), wherever
its module sits in the package; they load as valid sessions."""

from host.live import demo
from host.model.session import load_session


def test_the_demo_sessions_exist_and_load():
    for path in (demo.SESSION, demo.STEMS, demo.HYBRID):
        assert path.is_file(), path
        load_session(path)
