r"""Reference traces of ncps (Hasani, Lechner et al.) LTC and CfC networks for neurosim.

Writes, next to this file (or into --out-dir):
  ncps_reference.npz   every case: inputs, timespans, raw parameters, masks, wiring,
                       hidden state after every step and outputs (float64)
  ncps_<case>.pt       torch.save(model.state_dict()) of the ncps module of each case
                       (``LTC``/``CfC``; keys start with ``rnn_cell.``, ``lstm.``)

Run with the venv described in README_ncps.md (torch 2.13.0+cpu, ncps 1.0.1):
  /work/ncps-venv/bin/python tests/reference/make_ncps_reference.py
Everything is float64 (``torch.set_default_dtype(torch.float64)`` before any module
is built); the output is bit-for-bit reproducible (fixed seeds, one thread, zip
entries with a fixed timestamp).  Besides running ncps, this script re-implements
every cell in plain numpy from the spec below (functions ``np_ltc``/``np_cfc``/
``np_wired_cfc``/``np_lstm``) and refuses to write anything unless that re-
implementation matches ncps to 1e-12 on every case, so the spec is checked, not
just transcribed.  ncps's own sequence modules (``LTC.forward``/``CfC.forward``)
only return the final state, so each case is stepped here with the cell exactly as
their loop does, and the stacked outputs / final state are checked to be *equal*
(torch.equal) to what the sequence module returns.

======================================================================================
SPEC: the math ncps 1.0.1 (torch backend) uses.  Paths are relative to site-packages/
ncps/; "L<n>" are line numbers in the installed files.
======================================================================================

Notation: batch is always 1 here and dropped.  K = number of inputs (sensory
neurons), N = number of neurons (state size), M = wiring.output_dim (motor neurons).
Matrices indexed [pre, post] (row = source, column = target), as in ncps.
sigmoid(x) = 1/(1+exp(-x)); softplus(x) = torch.nn.Softplus() with beta=1,
threshold=20, i.e. softplus(x) = log1p(exp(x)) if x <= 20 else x.

--------------------------------------------------------------------------------------
1. Wirings (wirings/wirings.py)
--------------------------------------------------------------------------------------
* adjacency_matrix  [N, N] int32 in {-1, 0, +1}  (L22, add_synapse L85:
  ``self.adjacency_matrix[src, dest] = polarity``)
* sensory_adjacency_matrix [K, N] int32 in {-1, 0, +1} (set_input_dim L55, L110)
* erev_initializer() = copy of adjacency_matrix (L47-48);
  sensory_erev_initializer() = copy of sensory_adjacency_matrix (L50-51).
  => the reversal potentials start as exactly the synapse signs (+1 excitatory,
  -1 inhibitory, 0 where there is no synapse) but are *trainable parameters*
  afterwards; always use the stored erev/sensory_erev, never re-derive them.
* motor neurons are neurons 0..M-1 (Wiring.get_type_of_neuron L63-64; NCP L433-434:
  "Neuron IDs: [0..motor ... command ... inter]").
* FullyConnected(units, output_dim=None, erev_init_seed=1111, self_connections=True)
  (L295-318): every pair (src, dest) incl. self-connections gets polarity
  ``rng.choice([-1, 1, 1])`` with ``rng = np.random.default_rng(1111)``; build()
  then gives every sensory->neuron pair a polarity from the same rng.  All masks 1.
* NCP(inter, command, motor, sensory_fanout, inter_fanout, recurrent_command_synapses,
  motor_fanin, seed=22222) (L395-584), ``rng = np.random.RandomState(seed)``.
  Neuron ids: motor = [0, M), command = [M, M+C), inter = [M+C, N).
  num_layers = 3, get_neurons_of_layer(0)=inter, (1)=command, (2)=motor (L469-480).
  build(): sensory->inter (each sensory to `sensory_fanout` random inter neurons,
  polarity rng.choice([-1,1]); unreached inter neurons get mean fan-in), inter->
  command, `recurrent_command_synapses` random command->command synapses (may repeat /
  overwrite), command->motor (motor_fanin per motor neuron).  Only these synapses exist.
* AutoNCP(units, output_size, sparsity_level=0.5, seed=22222) (L603-647):
  command = max(int(0.4*(units-output_size)), 1); inter = units-output_size-command;
  sensory_fanout = max(int(inter*density),1), inter_fanout = max(int(command*density),1),
  recurrent_command_synapses = max(int(command*density*2),1),
  motor_fanin = max(int(command*density),1), density = 1-sparsity_level.
  AutoNCP(19, 4): motor 0-3, command 4-9, inter 10-18; fanouts 4, 3, rec 6, fanin 3.
The wiring RNG is numpy's, independent of torch.manual_seed; the npz stores the
resulting matrices (``<case>/wiring/...``) so nothing has to be regenerated.

--------------------------------------------------------------------------------------
2. LTC (torch/ltc_cell.py, torch/ltc.py)
--------------------------------------------------------------------------------------
Parameters (ltc_cell.py L112-195), init ranges L57-67 (uniform, torch.rand):
  gleak [N] U(0.001,1)      vleak [N] U(-0.2,0.2)     cm [N] U(0.4,0.6)
  sigma [N,N] U(3,8)        mu [N,N] U(0.3,0.8)       w [N,N] U(0.001,1)
  erev [N,N] = adjacency signs (see 1.)
  sensory_sigma [K,N] U(3,8) sensory_mu [K,N] U(0.3,0.8) sensory_w [K,N] U(0.001,1)
  sensory_erev [K,N] = sensory adjacency signs
  sparsity_mask [N,N] = |adjacency_matrix|, sensory_sparsity_mask [K,N] =
  |sensory_adjacency_matrix| (L164-173; registered as Parameters, requires_grad=False,
  so they ARE in the state_dict, float64 here)
  input_w [K] = 1, input_b [K] = 0   (input_mapping "affine"; "linear" = only input_w)
  output_w [M] = 1, output_b [M] = 0 (output_mapping "affine"; "linear" = only output_w)
  NOTE: this script overwrites input_w/input_b/output_w/output_b with random values
  after construction (see _perturb_ltc_mappings) so that the affine maps are exercised;
  the stored params are the ones used.

Positivity (ltc_cell.py L53-55):
  ``self.make_positive_fn = nn.Softplus() if implicit_param_constraints else nn.Identity()``
  It is applied to exactly four parameters at run time: w, sensory_w, cm, gleak
  (L207, L223, L228, L242).  NOT to sigma, mu, vleak, erev, masks, mappings.
  !! DEFAULTS DIFFER: the sequence module ``LTC`` defaults to
  implicit_param_constraints=True (ltc.py L35), the bare ``LTCCell`` to False
  (ltc_cell.py L30).  All LTC cases here are built through ``LTC`` => softplus ON,
  except "ltc_fc8_explicit" (False => identity).  The npz stores the RAW values
  (before softplus).  apply_weight_constraints() (L269-276, ReLU clipping of the same
  four params when implicit is False) is a training-time helper that forward() never
  calls.

One step, forward(inputs, states, elapsed_time=1.0) (L278-286):
  u = _map_inputs(inputs):  u = inputs * input_w ; u = u + input_b        (L251-256)
  v = _ode_solver(u, state, elapsed_time)                                  (L203-249)
  out = _map_outputs(v): y = v[:, 0:M] if M < N else v ; y = y*output_w ; y = y+output_b
                                                                           (L258-267)
  returns (out, v); v (all N potentials) is the next state.

_sigmoid(v_pre, mu, sigma) (L197-201):
  ``v_pre = torch.unsqueeze(v_pre, -1); mues = v_pre - mu; x = sigma * mues;
  return torch.sigmoid(x)``  => S[i, j] = sigmoid(sigma[i,j] * (v_pre[i] - mu[i,j])),
  i = presynaptic (row), j = postsynaptic (column).

_ode_solver(inputs=u, state, elapsed_time=dt) (L203-249), in this order:
  v_pre = state
  sensory_w_activation = softplus?(sensory_w) * _sigmoid(u, sensory_mu, sensory_sigma)
  sensory_w_activation = sensory_w_activation * sensory_sparsity_mask          (L207-214)
  sensory_rev_activation = sensory_w_activation * sensory_erev                 (L216)
  w_numerator_sensory   = sum over dim 1 (= presynaptic/source axis) of sensory_rev_activation
  w_denominator_sensory = sum over dim 1 of sensory_w_activation               (L219-220)
      (dim 1 of the batched [B, K, N] tensor, i.e. the sum over inputs k)
  cm_t = softplus?(cm) / (elapsed_time / ode_unfolds)                          (L223-225)
      (literally cm / (dt / 6) with the default ode_unfolds=6; sensory terms and cm_t
       are computed ONCE per step and held fixed over the unfolds)
  w_param = softplus?(w)                                                       (L228)
  for _ in range(ode_unfolds):                                                 (L229)
      w_activation = w_param * _sigmoid(v_pre, mu, sigma)                      (L230-232)
      w_activation = w_activation * sparsity_mask                              (L234)
      rev_activation = w_activation * erev                                     (L236)
      w_numerator   = sum_dim1(rev_activation) + w_numerator_sensory           (L239)
      w_denominator = sum_dim1(w_activation)   + w_denominator_sensory         (L240)
      gleak = softplus?(gleak)                                                 (L242)
      numerator   = cm_t * v_pre + gleak * vleak + w_numerator                 (L243)
      denominator = cm_t + gleak + w_denominator                               (L244)
      v_pre = numerator / (denominator + epsilon)      epsilon = 1e-8 (L29, ltc.py L34)
  return v_pre
  i.e. ode_unfolds fused semi-implicit Euler steps of size dt/ode_unfolds of
  cm dv/dt = gleak (vleak - v) + sum_i w_ij s_ij(v_i) (erev_ij - v_j)
           + sum_k sw_kj s_kj(u_k) (serev_kj - v_j),
  where the synaptic sigmoids s use the potentials at the start of each unfold and the
  sensory sigmoids the (mapped) input of the step.

Sequence loop LTC.forward(input, hx=None, timespans=None) (ltc.py L124-201):
  h0 = zeros (L143-144).  For t: inputs = input[:, t];
  ``ts = 1.0 if timespans is None else timespans[:, t].squeeze()`` (L178)
  (regular: the Python float 1.0; irregular: a 0-d tensor, so batch must be 1 or the
  per-sample ts would broadcast against the neuron axis); optional mixed-memory LSTM
  (L183-184, see 4.) feeds its h into the cell; ``h_out, h_state =
  self.rnn_cell.forward(inputs, h_state, ts)`` (L185); the returned sequence is the
  stack of h_out = mapped motor outputs; the returned hx is the final full state.
  elapsed_time enters ONLY through cm_t.

--------------------------------------------------------------------------------------
3. CfC (torch/cfc_cell.py, torch/cfc.py, torch/wired_cfc_cell.py)
--------------------------------------------------------------------------------------
LeCun activation (cfc_cell.py L27-33): lecun_tanh(x) = 1.7159 * tanh(0.666 * x).
Other backbone activations: "silu", "relu", "tanh", "gelu" (L85-96).  Default of
both CfC and CfCCell: "lecun_tanh".

CfCCell(input_size=K, hidden_size=H, mode, backbone_activation, backbone_units=U,
backbone_layers=Lb, backbone_dropout, sparsity_mask=None):
  backbone (L98-110), only if Lb > 0: nn.Sequential(
      Linear(K+H, U), act, [Linear(U, U), act, (Dropout if dropout>0)] * (Lb-1))
      => state_dict names backbone.0.*, backbone.2.*, ... (act has no params; with
      dropout > 0 the indices shift).
  cat_shape = H + K if Lb == 0 else U (L113-115)
  ff1 = Linear(cat_shape, H) (L117)
  mode "pure":  w_tau [1,H] (created 0), A [1,H] (created 1) (L118-124)
  otherwise:    ff2, time_a, time_b = Linear(cat_shape, H) (L126-128)
  init_weights (L131-134): xavier_uniform_ on EVERY 2-D parameter with requires_grad,
  i.e. all Linear weights AND w_tau and A (so in "pure" mode w_tau/A are NOT 0/1
  after construction).  Biases keep nn.Linear's default init.
  Linear(x) = x @ W.T + b, W stored [out, in].

forward(input, hx, ts) (L136-167):
  x = cat([input, hx], dim 1)              # ORDER: inputs first, then hidden
  if Lb > 0: x = backbone(x)
  ff1 = x @ (W_ff1 * mask).T + b_ff1 if mask given, else ff1(x)            (L140-143)
  mode "pure":                                                             (L144-151)
      h_new = -A * exp(-ts * (|w_tau| + |ff1|)) * ff1 + A     (ff1 NOT squashed)
  else:                                                                    (L152-166)
      ff2 = x @ (W_ff2 * mask).T + b_ff2 if mask given, else ff2(x)
      ff1 = tanh(ff1); ff2 = tanh(ff2)
      t_a = time_a(x); t_b = time_b(x)      # time_a/time_b are never masked
      t_interp = sigmoid(t_a * ts + t_b)
      "no_gate": h_new = ff1 + t_interp * ff2
      "default": h_new = ff1 * (1.0 - t_interp) + t_interp * ff2
  return (h_new, h_new)   # output == new state

CfC(input_size, units, proj_size=None, ..., mode, activation, backbone_units=None,
backbone_layers=None, backbone_dropout=None) (cfc.py L24-110):
  integer units: backbone defaults 128 units, 1 layer, dropout 0 (L89-91);
  output = fc(h_out) with fc = Identity if proj_size is None else Linear(H, proj_size)
  (L107-110, L175).  Sequence loop identical to LTC's (L162-187, ts at L166).
  A Wiring as units => WiredCfCCell(input_size, wiring, mode) (L70-86); passing any
  backbone_* argument then raises.

WiredCfCCell(input_size, wiring, mode) (wired_cfc_cell.py):
  one CfCCell per wiring layer l = 0..num_layers-1 (NCP: 0=inter, 1=command, 2=motor)
  (L28-59), each with backbone_layers=0 (no backbone, cat_shape = in_l + n_l),
  activation irrelevant, and sparsity_mask built as:
      l == 0: in_sp = sensory_adjacency_matrix[:, layer0_neurons]        [K, n_0]
      l  > 0: in_sp = adjacency_matrix[:, layer_l_neurons][layer_{l-1}_neurons, :]
                                                                     [n_{l-1}, n_l]
      input_sparsity = concat([in_sp, ones(n_l, n_l)], axis=0)   [in_l + n_l, n_l]
  and in CfCCell (cfc_cell.py L74-81): mask = |input_sparsity.T| as float32
  [n_l, in_l + n_l] (a requires_grad=False Parameter `layer_l.sparsity_mask`, stored
  float32 even under float64 default; 0/1 so the product is exact).
  => the mask covers ff1 and ff2 only; the within-layer recurrent block is all ones
     (the wiring's command->command synapses are ignored: every layer is fully
     recurrent); time_a/time_b see the full, unmasked x.
  forward(input, hx, timespans) (L96-107):
      h_state = split(hx, layer_sizes)   # layer_sizes = [n_0, n_1, n_2] = [inter,
                                         # command, motor] = [9, 6, 4] for AutoNCP(19,4)
      inputs = input
      for l: h_l = layer_l(inputs, h_state[l], ts); inputs = h_l   # NEW h of l-1
      return (h_last, cat(h_0, h_1, ..., h_last))
  !! State layout: the wired CfC state vector is [inter | command | motor] (layer
  order), NOT wiring neuron-id order (where motor = 0..M-1).  The output is the
  motor block = the LAST M entries of the state.  (LTC, by contrast, keeps the
  neuron-id order: output = first M entries.)

--------------------------------------------------------------------------------------
4. Mixed memory (torch/lstm.py), used by LTC/CfC with mixed_memory=True
--------------------------------------------------------------------------------------
  input_map = Linear(K, 4H, bias=True), recurrent_map = Linear(H, 4H, bias=False)
  init: input_map bias U(-0.1,0.1), weight xavier_uniform; recurrent weight orthogonal
  forward (L28-41): z = input_map(u) + recurrent_map(h); i, ig, fg, og = chunk(z, 4)
      c' = c * sigmoid(fg + 1.0) + tanh(i) * sigmoid(ig);  h' = tanh(c') * sigmoid(og)
  In the sequence loop the LSTM runs first on the RAW input and its h' is the state
  handed to the LTC/CfC cell (cfc.py L171-173, ltc.py L183-185); the cell's new
  state becomes h for the next LSTM step, c is carried separately.

--------------------------------------------------------------------------------------
5. Pitfalls
--------------------------------------------------------------------------------------
* Softplus default: ON for ``LTC`` (sequence module), OFF for bare ``LTCCell``.  With
  softplus the raw inits map to w, sensory_w in (0.69, 1.31), cm in (0.91, 1.04),
  gleak in (0.69, 1.31): apply softplus to the stored raw values, not to anything else.
* LTC output = first M neurons (neuron-id order); wired-CfC output = LAST M state
  entries (state is in layer order inter|command|motor).  Non-wired CfC output = state.
* Wired CfC ignores the wiring's within-layer synapses (recurrent block of the mask is
  all ones) and never masks time_a/time_b; layer l>0 is driven by layer l-1's NEW
  state of the same step; the first layer gets the raw input (no input mapping).
* "pure" mode: no tanh on ff1; w_tau and A were xavier-initialised, not 0/1.
* Regular sampling passes the Python float 1.0 as ts: cm_t = cm / (1.0 / 6)
  (compute it as cm / (dt / ode_unfolds) to stay within an ulp of ncps).
* ``x = cat([input, hx])``: inputs come first in the concatenation feeding the
  backbone / ff layers (Linear weight columns 0..K-1 = inputs, K.. = hidden).
* timespans[:, t].squeeze() makes ts a 0-d tensor only for batch 1; ncps's batched
  irregular mode would broadcast (B,) against the hidden axis.
* ``ncps.__version__`` says "0.0.2" in the 1.0.1 wheel: use importlib.metadata.

======================================================================================
npz layout (np.load(path) works without allow_pickle)
======================================================================================
  (read the JSON strings with json.loads(str(z["meta/cases_json"])))
  meta/versions_json, meta/cases_json        JSON strings (0-d unicode arrays)
  <case>/config_json     JSON: constructor, kwargs, seeds, state/output sizes, layout
  <case>/inputs          [T, K] float64   (batch 1 dropped; T = 50)
  <case>/timespans       [T]    float64   (ones for regular cases; for those ncps got
                                           no timespans at all, i.e. ts = 1.0)
  <case>/hidden          [T, N] float64   full state AFTER step t (h0 = zeros)
  <case>/outputs         [T, n_out]       what the sequence module returns per step
  <case>/cell_state      [T, H]           only cfc_mixed: LSTM cell state c after t
  <case>/param/<key>     every state_dict entry, key exactly as in the .pt
                         (e.g. "rnn_cell.w", "rnn_cell.layer_0.ff1.weight"), raw
                         stored values (before softplus), cast to float64 (the wired
                         CfC masks are float32 in torch; 0/1 exact)
  <case>/wiring/adjacency_matrix, <case>/wiring/sensory_adjacency_matrix  int32
  <case>/wiring/layer_<l>_neurons   int64 (wired cases: neuron ids of each layer)
"""

import argparse
import importlib.metadata
import io
import json
import os
import sys
import zipfile

import numpy as np
import torch

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

from ncps.torch import LTC, CfC  # noqa: E402
from ncps.wirings import AutoNCP, FullyConnected  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
T = 50
TOL_SPEC = 1e-12  # numpy re-implementation vs ncps, max abs difference

# name -> description.  Seeds: model = torch.manual_seed(model_seed) right before the
# module is built; data = torch.Generator seeded with data_seed (inputs, then timespans).
CASES = {
    "ltc_fc8": dict(
        kind="ltc",
        K=3,
        wiring=("FullyConnected", dict(units=8, output_dim=2)),
        ltc_kwargs={},
        model_seed=1,
        data_seed=101,
        irregular=False,
    ),
    "ltc_ncp19": dict(
        kind="ltc",
        K=5,
        wiring=("AutoNCP", dict(units=19, output_size=4)),
        ltc_kwargs={},
        model_seed=2,
        data_seed=102,
        irregular=False,
    ),
    # same model and inputs as ltc_fc8, irregular timespans
    "ltc_fc8_irregular": dict(
        kind="ltc",
        K=3,
        wiring=("FullyConnected", dict(units=8, output_dim=2)),
        ltc_kwargs={},
        model_seed=1,
        data_seed=101,
        irregular=True,
    ),
    # LTCCell's own default: no softplus (identity) on w, sensory_w, cm, gleak
    "ltc_fc8_explicit": dict(
        kind="ltc",
        K=3,
        wiring=("FullyConnected", dict(units=8, output_dim=2)),
        ltc_kwargs=dict(implicit_param_constraints=False),
        model_seed=1,
        data_seed=101,
        irregular=False,
    ),
    "cfc_default": dict(
        kind="cfc",
        K=3,
        units=8,
        cfc_kwargs=dict(mode="default", backbone_units=16, backbone_layers=1),
        model_seed=11,
        data_seed=111,
        irregular=False,
    ),
    "cfc_pure": dict(
        kind="cfc",
        K=3,
        units=8,
        cfc_kwargs=dict(mode="pure", backbone_units=16, backbone_layers=1),
        model_seed=12,
        data_seed=111,
        irregular=False,
    ),
    "cfc_no_gate": dict(
        kind="cfc",
        K=3,
        units=8,
        cfc_kwargs=dict(mode="no_gate", backbone_units=16, backbone_layers=1),
        model_seed=13,
        data_seed=111,
        irregular=False,
    ),
    "cfc_default_2layer": dict(
        kind="cfc",
        K=3,
        units=8,
        cfc_kwargs=dict(mode="default", backbone_units=16, backbone_layers=2),
        model_seed=14,
        data_seed=111,
        irregular=False,
    ),
    # same model and inputs as cfc_default / cfc_pure, irregular timespans
    "cfc_default_irregular": dict(
        kind="cfc",
        K=3,
        units=8,
        cfc_kwargs=dict(mode="default", backbone_units=16, backbone_layers=1),
        model_seed=11,
        data_seed=111,
        irregular=True,
    ),
    "cfc_pure_irregular": dict(
        kind="cfc",
        K=3,
        units=8,
        cfc_kwargs=dict(mode="pure", backbone_units=16, backbone_layers=1),
        model_seed=12,
        data_seed=111,
        irregular=True,
    ),
    "cfc_ncp19": dict(
        kind="cfc",
        K=5,
        wiring=("AutoNCP", dict(units=19, output_size=4)),
        cfc_kwargs=dict(mode="default"),
        model_seed=15,
        data_seed=115,
        irregular=False,
    ),
    "cfc_ncp19_irregular": dict(
        kind="cfc",
        K=5,
        wiring=("AutoNCP", dict(units=19, output_size=4)),
        cfc_kwargs=dict(mode="default"),
        model_seed=15,
        data_seed=115,
        irregular=True,
    ),
    # mixed_memory=True: LSTMCell in front of the CfC cell (lstm.py)
    "cfc_mixed": dict(
        kind="cfc",
        K=3,
        units=8,
        cfc_kwargs=dict(mode="default", backbone_units=16, backbone_layers=1, mixed_memory=True),
        model_seed=16,
        data_seed=111,
        irregular=False,
    ),
}


# ----------------------------------------------------------------------------------
# building and running ncps
# ----------------------------------------------------------------------------------
def _make_wiring(spec):
    name, kw = spec
    return {"FullyConnected": FullyConnected, "AutoNCP": AutoNCP}[name](**kw)


def _perturb_ltc_mappings(model, seed):
    """ncps initialises input_w/output_w to 1 and input_b/output_b to 0; give them
    random values so the affine maps are exercised (independent generator, after
    construction, so the other parameters are untouched)."""
    g = torch.Generator().manual_seed(seed)
    p = model.rnn_cell._params
    with torch.no_grad():
        p["input_w"].copy_(0.5 + torch.rand(p["input_w"].shape, generator=g))
        p["input_b"].copy_(0.2 * torch.randn(p["input_b"].shape, generator=g))
        p["output_w"].copy_(0.5 + torch.rand(p["output_w"].shape, generator=g))
        p["output_b"].copy_(0.2 * torch.randn(p["output_b"].shape, generator=g))


def build(case):
    c = CASES[case]
    torch.manual_seed(c["model_seed"])
    wiring = _make_wiring(c["wiring"]) if "wiring" in c else None
    if c["kind"] == "ltc":
        model = LTC(c["K"], wiring, return_sequences=True, batch_first=True, **c["ltc_kwargs"])
        _perturb_ltc_mappings(model, c["model_seed"] + 5000)
    else:
        model = CfC(
            c["K"],
            wiring if wiring is not None else c["units"],
            return_sequences=True,
            batch_first=True,
            **c["cfc_kwargs"],
        )
    model.eval()
    return model, wiring


def make_data(case):
    c = CASES[case]
    g = torch.Generator().manual_seed(c["data_seed"])
    x = torch.randn((1, T, c["K"]), generator=g)
    ts = 0.5 + 1.5 * torch.rand((1, T, 1), generator=g)  # U[0.5, 2.0)
    return x, (ts if c["irregular"] else None)


def run_stepwise(model, x, timespans):
    """LTC.forward / CfC.forward (ltc.py L174-185, cfc.py L162-175) unrolled so
    that the state after every step is kept."""
    is_cfc = isinstance(model, CfC)
    h = torch.zeros((1, model.state_size))
    c = torch.zeros((1, model.state_size)) if model.use_mixed else None
    hs, outs, cs = [], [], []
    for t in range(x.shape[1]):
        inputs = x[:, t]
        ts = 1.0 if timespans is None else timespans[:, t].squeeze()
        if model.use_mixed:
            h, c = model.lstm(inputs, (h, c))
        h_out, h = model.rnn_cell.forward(inputs, h, ts)
        outs.append(model.fc(h_out) if is_cfc else h_out)
        hs.append(h)
        if c is not None:
            cs.append(c)
    hs = torch.cat(hs, 0)
    outs = torch.cat(outs, 0)
    cs = torch.cat(cs, 0) if cs else None
    # must be identical to the sequence module
    seq_out, hx = model(x, None, timespans)
    h_last = hx[0] if model.use_mixed else hx
    assert torch.equal(seq_out[0], outs), "stepwise outputs differ from the sequence module"
    assert torch.equal(h_last[0], hs[-1]), "stepwise final state differs from the sequence module"
    if model.use_mixed:
        assert torch.equal(hx[1][0], cs[-1])
    return hs, outs, cs


# ----------------------------------------------------------------------------------
# numpy re-implementation of the spec in the docstring (checks the spec)
# ----------------------------------------------------------------------------------
def np_softplus(x):
    return np.where(x > 20.0, x, np.log1p(np.exp(np.minimum(x, 20.0))))


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_ltc(P, u_seq, dt_seq, M, implicit, unfolds=6, eps=1e-8, pre="rnn_cell."):
    p = {k[len(pre) :]: v for k, v in P.items() if k.startswith(pre)}
    pos = np_softplus if implicit else (lambda a: a)
    N = p["gleak"].shape[0]
    v = np.zeros(N)
    hs, outs = [], []
    for u, dt in zip(u_seq, dt_seq, strict=False):
        u = u * p["input_w"] + p["input_b"]
        sact = pos(p["sensory_w"]) * np_sigmoid(p["sensory_sigma"] * (u[:, None] - p["sensory_mu"]))
        sact = sact * p["sensory_sparsity_mask"]
        num_s = (sact * p["sensory_erev"]).sum(0)
        den_s = sact.sum(0)
        cm_t = pos(p["cm"]) / (dt / unfolds)
        w = pos(p["w"])
        gleak = pos(p["gleak"])
        for _ in range(unfolds):
            a = w * np_sigmoid(p["sigma"] * (v[:, None] - p["mu"])) * p["sparsity_mask"]
            num = (a * p["erev"]).sum(0) + num_s
            den = a.sum(0) + den_s
            v = (cm_t * v + gleak * p["vleak"] + num) / (cm_t + gleak + den + eps)
        y = v[:M] if M < N else v
        outs.append(y * p["output_w"] + p["output_b"])
        hs.append(v)
    return np.array(hs), np.array(outs)


def np_lecun(x):
    return 1.7159 * np.tanh(0.666 * x)


def np_cfc_step(p, u, h, ts, mode, backbone_layers, mask=None):
    x = np.concatenate([u, h])
    for i in range(backbone_layers):
        x = np_lecun(p[f"backbone.{2 * i}.weight"] @ x + p[f"backbone.{2 * i}.bias"])
    m = 1.0 if mask is None else mask
    ff1 = (p["ff1.weight"] * m) @ x + p["ff1.bias"]
    if mode == "pure":
        A, w_tau = p["A"][0], p["w_tau"][0]
        return -A * np.exp(-ts * (np.abs(w_tau) + np.abs(ff1))) * ff1 + A
    ff2 = np.tanh((p["ff2.weight"] * m) @ x + p["ff2.bias"])
    ff1 = np.tanh(ff1)
    t_a = p["time_a.weight"] @ x + p["time_a.bias"]
    t_b = p["time_b.weight"] @ x + p["time_b.bias"]
    ti = np_sigmoid(t_a * ts + t_b)
    if mode == "no_gate":
        return ff1 + ti * ff2
    return ff1 * (1.0 - ti) + ti * ff2


def np_lstm(p, u, h, c):
    z = p["input_map.weight"] @ u + p["input_map.bias"] + p["recurrent_map.weight"] @ h
    i, ig, fg, og = np.split(z, 4)
    c = c * np_sigmoid(fg + 1.0) + np.tanh(i) * np_sigmoid(ig)
    return np.tanh(c) * np_sigmoid(og), c


def _sub(P, pre):
    return {k[len(pre) :]: v for k, v in P.items() if k.startswith(pre)}


def np_cfc(P, u_seq, dt_seq, H, mode, backbone_layers, mixed):
    p = _sub(P, "rnn_cell.")
    lp = _sub(P, "lstm.")
    h, c = np.zeros(H), np.zeros(H)
    hs, cs = [], []
    for u, dt in zip(u_seq, dt_seq, strict=False):
        if mixed:
            h, c = np_lstm(lp, u, h, c)
        h = np_cfc_step(p, u, h, dt, mode, backbone_layers)
        hs.append(h)
        cs.append(c)
    return np.array(hs), np.array(hs), np.array(cs)


def np_wired_cfc(P, u_seq, dt_seq, layer_sizes, mode):
    layers = [_sub(P, f"rnn_cell.layer_{l}.") for l in range(len(layer_sizes))]
    hs_l = [np.zeros(n) for n in layer_sizes]
    hs, outs = [], []
    for u, dt in zip(u_seq, dt_seq, strict=False):
        inp = u
        for l, p in enumerate(layers):
            hs_l[l] = np_cfc_step(p, inp, hs_l[l], dt, mode, 0, mask=p["sparsity_mask"])
            inp = hs_l[l]
        hs.append(np.concatenate(hs_l))
        outs.append(hs_l[-1])
    return np.array(hs), np.array(outs)


# ----------------------------------------------------------------------------------
# one case
# ----------------------------------------------------------------------------------
def run_case(case):
    c = CASES[case]
    model, wiring = build(case)
    x, timespans = make_data(case)
    with torch.no_grad():
        hs, outs, cs = run_stepwise(model, x, timespans)
    sd = model.state_dict()
    P = {k: v.detach().cpu().numpy().astype(np.float64) for k, v in sd.items()}
    u_seq = x[0].numpy()
    dt_seq = np.ones(T) if timespans is None else timespans[0, :, 0].numpy()
    hs, outs = hs.numpy(), outs.numpy()

    cfg = {
        "case": case,
        "kind": c["kind"],
        "T": T,
        "batch": 1,
        "input_size": c["K"],
        "model_seed": c["model_seed"],
        "data_seed": c["data_seed"],
        "irregular_timespans": c["irregular"],
        "h0": "zeros",
        "state_size": int(hs.shape[1]),
        "output_size": int(outs.shape[1]),
    }
    if c["kind"] == "ltc":
        cell = model.rnn_cell
        cfg.update(
            constructor=f"ncps.torch.LTC({c['K']}, {c['wiring'][0]}(**{c['wiring'][1]}), "
            f"**{c['ltc_kwargs']})",
            wiring=c["wiring"][0],
            wiring_kwargs=c["wiring"][1],
            ode_unfolds=cell._ode_unfolds,
            epsilon=cell._epsilon,
            implicit_param_constraints=cell._implicit_param_constraints,
            softplus_applied_to=(
                ["w", "sensory_w", "cm", "gleak"] if cell._implicit_param_constraints else []
            ),
            input_mapping=cell._input_mapping,
            output_mapping=cell._output_mapping,
            mappings_perturbed_by_script=True,
            motor_neurons="state[0:output_size] (wiring neuron ids 0..M-1)",
            state_layout="wiring neuron-id order",
        )
        ref_h, ref_o = np_ltc(
            P,
            u_seq,
            dt_seq,
            wiring.output_dim,
            cell._implicit_param_constraints,
            cell._ode_unfolds,
            cell._epsilon,
        )
    elif "wiring" in c:
        cell = model.rnn_cell
        sizes = cell.layer_sizes
        cfg.update(
            constructor=f"ncps.torch.CfC({c['K']}, {c['wiring'][0]}(**{c['wiring'][1]}), "
            f"**{c['cfc_kwargs']})",
            wiring=c["wiring"][0],
            wiring_kwargs=c["wiring"][1],
            mode=c["cfc_kwargs"]["mode"],
            backbone_layers=0,
            layer_sizes=sizes,
            layer_neurons=[
                list(map(int, wiring.get_neurons_of_layer(l))) for l in range(wiring.num_layers)
            ],
            state_layout="concatenation of layers [inter | command | motor] "
            "(NOT wiring neuron-id order); output = last layer (motor)",
        )
        ref_h, ref_o = np_wired_cfc(P, u_seq, dt_seq, sizes, c["cfc_kwargs"]["mode"])
    else:
        kw = c["cfc_kwargs"]
        cfg.update(
            constructor=f"ncps.torch.CfC({c['K']}, {c['units']}, **{kw})",
            mode=kw["mode"],
            backbone_units=kw["backbone_units"],
            backbone_layers=kw["backbone_layers"],
            backbone_activation="lecun_tanh",
            backbone_dropout=0.0,
            proj_size=None,
            mixed_memory=bool(kw.get("mixed_memory", False)),
            state_layout="hidden units; output == hidden",
        )
        ref_h, ref_o, ref_c = np_cfc(
            P, u_seq, dt_seq, c["units"], kw["mode"], kw["backbone_layers"], cfg["mixed_memory"]
        )
        if cs is not None:
            d = float(np.max(np.abs(ref_c - cs.numpy())))
            assert d < TOL_SPEC, (case, "cell_state", d)
    dh = float(np.max(np.abs(ref_h - hs)))
    do = float(np.max(np.abs(ref_o - outs)))
    print(
        f"  {case:22s} N={hs.shape[1]:2d} n_out={outs.shape[1]:2d}  "
        f"numpy-spec vs ncps: max|dh|={dh:.1e} max|dy|={do:.1e}  "
        f"|h|max={np.max(np.abs(hs)):.3f}"
    )
    assert dh < TOL_SPEC and do < TOL_SPEC, (case, dh, do)

    arrays = {
        f"{case}/config_json": np.array(json.dumps(cfg, sort_keys=True)),
        f"{case}/inputs": u_seq.astype(np.float64),
        f"{case}/timespans": dt_seq.astype(np.float64),
        f"{case}/hidden": hs,
        f"{case}/outputs": outs,
    }
    if cs is not None:
        arrays[f"{case}/cell_state"] = cs.numpy()
    for k, v in P.items():
        arrays[f"{case}/param/{k}"] = v
    if wiring is not None:
        arrays[f"{case}/wiring/adjacency_matrix"] = wiring.adjacency_matrix.astype(np.int32)
        arrays[f"{case}/wiring/sensory_adjacency_matrix"] = wiring.sensory_adjacency_matrix.astype(
            np.int32
        )
        if c["kind"] == "cfc":
            for l in range(wiring.num_layers):
                arrays[f"{case}/wiring/layer_{l}_neurons"] = np.asarray(
                    wiring.get_neurons_of_layer(l), dtype=np.int64
                )
    return arrays, sd


def save_npz_deterministic(path, arrays):
    """Like np.savez_compressed, but with a fixed timestamp in every zip entry so the
    file is byte-identical from run to run."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arrays[name]), allow_pickle=False)
            zi = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            zf.writestr(zi, buf.getvalue())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default=HERE)
    args = ap.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    versions = {
        "torch": torch.__version__,
        "ncps": importlib.metadata.version("ncps"),
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "default_dtype": str(torch.get_default_dtype()),
    }
    print("versions:", versions)
    arrays = {
        "meta/versions_json": np.array(json.dumps(versions, sort_keys=True)),
        "meta/cases_json": np.array(json.dumps(sorted(CASES))),
    }
    for case in CASES:
        a, sd = run_case(case)
        arrays.update(a)
        torch.save(sd, os.path.join(args.out_dir, f"ncps_{case}.pt"))
    path = os.path.join(args.out_dir, "ncps_reference.npz")
    save_npz_deterministic(path, arrays)
    size = os.path.getsize(path)
    assert size < 3 * 1024 * 1024, size
    print(f"wrote {path} ({size} bytes, {len(arrays)} arrays) and {len(CASES)} .pt files")


if __name__ == "__main__":
    main()
