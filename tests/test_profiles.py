import collections

import numpy as np
import pytest

from chvoice_core.data import PROFILES, get_profile, mix
from chvoice_core.data.mixing import draw_kind
from chvoice_core.data.noise import synthetic_noise_bank
from chvoice_core.errors import ChvoiceError

BANK = synthetic_noise_bank(clips_per_category=2)


def test_profiles_are_the_reports():
    w, e, n = PROFILES["weighted"], PROFILES["equal"], PROFILES["no-reverb"]
    assert w.category_probs == {"keyboard": 0.4, "coughing": 0.1, "clock-tick": 0.1, "click": 0.2, "wind": 0.2}
    assert set(e.category_probs.values()) == {0.2}
    assert n.p_reverb == 0 and n.category_probs == w.category_probs
    assert w.gains == {"keyboard": 0.3, "coughing": 0.1, "clock-tick": 0.3, "click": 0.3, "wind": 0.1}
    with pytest.raises(ChvoiceError, match="unknown noise profile"):
        get_profile("loud")


@pytest.mark.parametrize("name", list(PROFILES))
def test_kind_draws_match_profile_probabilities(name):
    p = PROFILES[name]
    rng = np.random.default_rng(0)
    n = 20000
    counts = collections.Counter(draw_kind(p, rng) for _ in range(n))
    for kind, prob in p.kind_probs().items():
        se = np.sqrt(prob * (1 - prob) / n)
        assert abs(counts[kind] / n - prob) < 4 * se + 1e-9, (kind, counts[kind] / n, prob)


@pytest.mark.parametrize("name", list(PROFILES))
def test_category_draws_and_snr(name):
    p = PROFILES[name]
    rng = np.random.default_rng(1)
    clean = (0.1 * np.sin(np.arange(8000) * 0.05)).astype(np.float32)
    cats = collections.Counter()
    snrs, n_env = [], 0
    for _ in range(1500):
        m = mix(clean, p, BANK, rng, include_none=False)
        assert m.kind != "none"
        if m.kind == "environmental":
            n_env += 1
            assert 1 <= len(m.categories) <= 3
            cats.update(m.categories)
        if m.kind in ("environmental", "static"):
            snrs.append(m.snr_db)
    total = sum(cats.values())
    for c, prob in p.category_probs.items():
        assert abs(cats[c] / total - prob) < 0.04, (c, cats[c] / total, prob)
    snrs = np.array(snrs)
    lo, hi = p.snr_db
    assert snrs.min() >= lo - 0.01 and snrs.max() <= hi + 0.01
    assert abs(snrs.mean() - (lo + hi) / 2) < 0.5     # uniform over the range
    expected_env = p.kind_probs(include_none=False)["environmental"]
    assert abs(n_env / 1500 - expected_env) < 0.04
    if p.p_reverb == 0:
        rng2 = np.random.default_rng(5)
        assert all(mix(clean, p, BANK, rng2).kind != "reverb" for _ in range(300))
