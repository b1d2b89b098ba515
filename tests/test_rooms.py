import numpy as np
import pytest

from chvoice_core.audio_io import write_audio
from chvoice_core.data.rooms import RoomConfig, measured_rooms, reverberate, room_bank, simulate_rooms
from chvoice_core.errors import ChvoiceError


def test_simulated_rooms_are_deterministic_and_the_early_part_is_the_start_of_the_rir():
    a = simulate_rooms(RoomConfig(n_rooms=3, seed=7))
    b = simulate_rooms(RoomConfig(n_rooms=3, seed=7))
    c = simulate_rooms(RoomConfig(n_rooms=3, seed=8))
    assert all(np.array_equal(x.speech, y.speech) for x, y in zip(a, b))
    assert not np.array_equal(a[0].speech, c[0].speech)
    for r in a:
        assert np.argmax(np.abs(r.speech)) < 400                # direct path near the start (trimmed)
        n = len(r.early)
        assert n < len(r.speech)
        # early = speech RIR up to 50 ms after the direct path (faded at its very end)
        assert np.allclose(r.early[: n - 80], r.speech[: n - 80])
        assert (n - np.argmax(np.abs(r.speech))) == pytest.approx(800, abs=2)
        assert 0.15 <= r.rt60 <= 0.9 and not np.array_equal(r.speech, r.noise)


def test_longer_rt60_rings_longer():
    rooms = simulate_rooms(RoomConfig(n_rooms=12))
    def tail(h):   # energy after 100 ms, relative
        return np.sum(h[1600:] ** 2) / np.sum(h ** 2)
    lo = [tail(r.speech) for r in rooms if r.rt60 < 0.4]
    hi = [tail(r.speech) for r in rooms if r.rt60 > 0.6]
    assert lo and hi and np.mean(hi) > np.mean(lo)


def test_room_bank_cache_round_trip(tmp_path):
    cfg = RoomConfig(n_rooms=2)
    first = room_bank(cfg, tmp_path)
    assert len(list(tmp_path.glob("rooms-*.npz"))) == 1
    again = room_bank(cfg, tmp_path)
    assert all(np.array_equal(x.early, y.early) and x.rt60 == y.rt60 for x, y in zip(first, again))
    next(tmp_path.glob("rooms-*.npz")).write_bytes(b"corrupt")
    assert len(room_bank(cfg, tmp_path)) == 2      # a corrupt cache is rebuilt


def test_measured_rirs_and_reverberate(tmp_path):
    h = np.zeros(4000, np.float32)
    h[100], h[900], h[2000] = 1.0, 0.5, 0.25
    write_audio(tmp_path / "hall.wav", h)
    (r,) = measured_rooms(tmp_path)
    assert r.id == "rir-hall" and np.argmax(r.speech) == 0 and len(r.early) == 800
    x = np.zeros(3000, np.float32)
    x[0] = 1
    y = reverberate(x, r.speech)
    assert len(y) == 3000 and y[800] == pytest.approx(0.5, abs=1e-3)
    with pytest.raises(ChvoiceError, match="no room impulse"):
        measured_rooms(tmp_path / "none")


def test_parallel_simulation_gives_the_same_rooms():
    from dataclasses import replace
    cfg = replace(RoomConfig(), n_rooms=4)
    one, two = simulate_rooms(cfg), simulate_rooms(cfg, workers=2)
    assert [r.id for r in one] == [r.id for r in two]
    for a, b in zip(one, two):
        assert np.array_equal(a.speech, b.speech) and np.array_equal(a.noise, b.noise) and a.rt60 == b.rt60
