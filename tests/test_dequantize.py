import torch

from chvoice_core.compress.dequantize import conv_bn_pairs, float_from_int8
from chvoice_core.compress.quantize import static_int8
from chvoice_core.models import UNet, UNetConfig

CFG = UNetConfig(depth=2, base_width=8, mask=True)


def warmed(seed=0):
    torch.manual_seed(seed)
    m = UNet(CFG)
    with torch.no_grad():
        m.train()
        for _ in range(3):
            m(torch.randn(8, 1, 128, 128) * 2 + 0.5)
        for p in m.parameters():      # BatchNorm affine weights away from their (1, 0) start
            p.add_(0.05 * torch.randn_like(p))
    return m.eval()


def test_rebuilt_float_model_computes_the_dequantized_int8_model():
    m = warmed()
    calib = torch.randn(32, 1, 128, 128) * 2 + 0.5
    q = static_int8(m, calib)
    f = float_from_int8(q.state_dict(), CFG, calib)
    x = torch.randn(4, 1, 128, 128) * 2 + 0.5
    with torch.no_grad():
        yq, yf, y = q(x), f(x), m(x)
    rms = lambda t: float(t.pow(2).mean().sqrt())
    # the float model drops only the activation rounding: it is at least as close to the original as int8 is
    assert rms(yf - y) <= rms(yq - y) + 1e-6
    assert rms(yf - yq) < 0.05 * rms(y)
    # every conv is bias-free again and every BatchNorm carries statistics measured on the calibration tiles
    for conv, bn in conv_bn_pairs(f):
        mod = dict(f.named_modules())
        assert mod[conv].bias is None and not torch.allclose(mod[bn].running_var, torch.ones_like(mod[bn].running_var))


def test_rebuilt_batchnorms_are_exact_in_eval_and_close_in_train_mode():
    m = warmed(1)
    mods = dict(m.named_modules())
    # a float "int8" state dict: BatchNorms folded into the convs, weights left unquantized
    state = {}
    for conv, bn in conv_bn_pairs(m):
        b = mods[bn]
        scale = b.weight / (b.running_var + b.eps).sqrt()
        state[f"{conv}.weight"] = mods[conv].weight * scale[:, None, None, None]
        state[f"{conv}.bias"] = b.bias - b.running_mean * scale
    state["outc.weight"], state["outc.bias"] = m.outc.weight, m.outc.bias
    state = {k: v.detach() for k, v in state.items()}
    calib = torch.randn(64, 1, 128, 128) * 2 + 0.5
    f = float_from_int8(state, CFG, calib)
    x = calib[:16]
    with torch.no_grad():
        y, yf = m(x), f(x)
        f.train()
        yt = f(x)
    assert torch.allclose(yf, y, atol=1e-4)
    # batch statistics of calibration-like tiles stand close to the running ones: the model trains from where it is
    assert float((yt - yf).pow(2).mean().sqrt()) < 0.1 * float(yf.pow(2).mean().sqrt())
