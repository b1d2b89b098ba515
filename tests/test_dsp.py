import numpy as np
import pytest
import torch

from chvoice_core.dsp import (FrontEnd, analyse, enhance_db, from_db, istft, merge_tiles, regain, split_tiles, stft, synthesise,
                              to_db)

FE = FrontEnd()


def test_front_end_matches_report():
    assert FE.n_bins == 128
    assert FE.tile_samples == 16129
    x = torch.randn(FE.tile_samples)
    assert stft(x, FE).shape == (128, 128)


@pytest.mark.parametrize("n", [300, 16129, 16130, 40_001])
def test_stft_round_trip(n):
    x = torch.randn(n, generator=torch.Generator().manual_seed(n)) * 0.1
    y = istft(stft(x, FE), FE, length=n)
    assert y.shape == x.shape
    assert torch.allclose(x, y, atol=1e-5)


@pytest.mark.parametrize("n", [100, 5000, 16129, 16129 * 3 + 17, 123_457])
def test_any_length_tiling_is_identity_and_keeps_length(n):
    x = torch.randn(n, generator=torch.Generator().manual_seed(1)) * 0.1
    db, phase = analyse(x, FE)
    out_db = enhance_db(db, lambda t: t, FE, batch_size=3)
    assert out_db.shape == db.shape
    assert torch.allclose(out_db, db, atol=1e-4)
    y = synthesise(out_db, phase, FE, n)
    assert y.shape == (n,)
    assert torch.allclose(x, y, atol=1e-4)


def test_tiles_cover_every_frame_and_cross_fade():
    db = torch.arange(128 * 300, dtype=torch.float32).reshape(128, 300) / 1000
    tiles, starts = split_tiles(db, FE)
    assert tiles.shape[1:] == (1, 128, 128)
    assert starts[0] == 0 and starts[-1] + 128 == 300
    # a tile function that adds its tile index shows the cross-fade: weighted average of neighbours
    shifted = tiles + torch.arange(len(starts)).view(-1, 1, 1, 1)
    merged = merge_tiles(shifted, starts, 300, FE) - db
    assert merged.min() >= -1e-4 and merged.max() <= len(starts) - 1 + 1e-4
    assert torch.all(merged[:, 1:] - merged[:, :-1] >= -1e-4)   # monotone hand-over between tiles


def test_short_input_is_padded_not_refused():
    db = torch.zeros(128, 10)
    tiles, starts = split_tiles(db, FE)
    assert tiles.shape == (1, 1, 128, 128) and starts == [0]
    assert torch.all(tiles[0, 0, :, 10:] == FE.floor_db)


def test_overlap_add_fed_in_pieces_equals_one_pass():
    """The one overlap-add: strided frames equal frame-by-frame adds, and emitting in pieces (as a stream does)
    gives the same samples as emitting once; what was emitted cannot be added to."""
    from chvoice_core.dsp import OverlapAdd
    g = torch.Generator().manual_seed(0)
    frames, w = torch.randn(9, 16, generator=g, dtype=torch.float64), torch.hann_window(16, dtype=torch.float64)
    whole = OverlapAdd(start=-8)
    whole.add_strided(-8, 4, frames * w, w ** 2)
    ref = whole.emit(-8 + 8 * 4 + 16)
    pieces, out = OverlapAdd(start=-8), []
    for i in range(9):
        pieces.add(-8 + 4 * i, frames[i] * w, w ** 2)
        out.append(pieces.emit(-8 + 4 * i))        # samples no later frame touches
    out.append(pieces.emit(-8 + 8 * 4 + 16))
    assert torch.allclose(torch.cat(out), ref, atol=1e-12)
    assert torch.isfinite(ref).all() and ref[0] == 0 and ref.abs().max() > 0.1    # zero weight: zero, not NaN
    with pytest.raises(ValueError, match="already emitted"):
        pieces.add(0, frames[0], w)


def test_regain_equals_polar_resynthesis_above_the_floor():
    """regain (the offline and long-file paths' resynthesis) is polar(from_db(out), angle(noisy)) without the angle:
    equal wherever the noisy magnitude is above the dB floor, and silent bins stay silent."""
    fe = FrontEnd(n_fft=510)
    x = torch.from_numpy(np.random.default_rng(3).standard_normal(16000).astype(np.float32) * 0.1)
    x[4000:6000] = 0.0                                  # exact silence: below fe.amin
    spec = stft(x, fe)
    db_in = to_db(spec.abs(), fe)
    db_out = db_in - 12.0 * torch.rand_like(db_in)     # any attenuation up to 12 dB
    above = spec.abs() >= fe.amin
    want = torch.polar(from_db(db_out), torch.angle(spec))
    got = regain(spec, db_in, db_out)
    assert torch.allclose(got[above], want[above], rtol=1e-5, atol=1e-7)
    assert (got[spec.abs() == 0] == 0).all() and (spec.abs() == 0).any()
