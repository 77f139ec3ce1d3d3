"""STDP weights take Wmax's sign, as NEST requires ("Weight and Wmax must have same
sign"); neurosim took a mismatch and flipped the weight's sign (-30 with Wmax +100
ended at +5.58 in a review's run)."""

import pytest
import yaml

import neurosim


def _doc(weight, wmax):
    return {
        "populations": {
            "P": {"size": 2, "model": "parrot_neuron"},
            "N": {"size": 2, "model": "iaf_psc_exp"},
        },
        "projections": [
            {
                "pre": "P",
                "post": "N",
                "rule": "all_to_all",
                "weight": weight,
                "synapse": {"model": "stdp_synapse", "params": {"Wmax": wmax}},
            }
        ],
    }


@pytest.mark.parametrize(
    "weight, wmax, ok",
    [
        ("-30 pA", "100 pA", False),
        ("30 pA", "-100 pA", False),
        ("0 pA", "-100 pA", False),  # NEST counts 0 as positive
        ({"uniform": ["-5 pA", "5 pA"]}, "100 pA", False),
        ("30 pA", "100 pA", True),
        ("-30 pA", "-100 pA", True),
        ("0 pA", "100 pA", True),
    ],
)
def test_stdp_weight_takes_wmax_sign(weight, wmax, ok, tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(_doc(weight, wmax)))
    if ok:
        neurosim.load(path)
    else:
        with pytest.raises(neurosim.SpecError, match=r"projections\[0\]\.weight: .*Wmax's sign"):
            neurosim.load(path)
