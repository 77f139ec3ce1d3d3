"""``neurosim run | resume | validate | info``: the command line.

Bad input (network file, options, output path) ends with one line naming the file,
the field and what was expected, and exit status 2, before any output is opened.

Under ``mpiexec`` every rank runs this; messages come from rank 0 only.  Bad input
found on any rank is agreed on by all ranks before they go on (every rank exits with
status 2, rank 0 prints the failing rank's message); an error while running (a NaN
in one partition) ends the whole job through ``MPI_Abort`` with that rank's message,
so no rank is left waiting in a collective.

``run`` and ``resume`` stop cleanly on SIGINT and SIGTERM: the run ends at the next
step boundary, the recording is flushed, a checkpoint is written (``<output>.ckpt``),
``complete`` stays false and the exit status is 128 + the signal number (130, 143),
with a message saying ``neurosim resume <output>``.  A second SIGINT stops at once.
Before building, the memory a run needs is estimated (:mod:`neurosim.network.estimate`)
and a run that would not fit ends with exit status 2 (``validate`` prints the estimate).
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
import time

EXIT_BAD_INPUT = 2

#: Modules that add subcommands: each has ``register(subparsers) -> {name: handler}``,
#: where ``handler(args) -> exit status`` raises :class:`BadInput` on bad input.
EXTENSIONS = ("neurosim.analysis.commands", "neurosim.io.commands")
_HANDLERS = {}


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"neurosim: error: {message}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)


def _parser():
    p = _Parser(prog="neurosim", description="Simulate neuron networks with closed-form dynamics.")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    r = sub.add_parser("run", help="run a network file and record to HDF5")
    r.add_argument("network", help="network file (YAML)")
    r.add_argument("-o", "--output", help="recording to write (default: <network name>.h5)")
    r.add_argument("--duration", help='simulated time, e.g. "200 ms" (default: the file\'s)')
    r.add_argument("--seed", help="random seed (default: the file's)")
    r.add_argument("--backend", default="numba", help="numba (default), numpy or cupy (GPU)")
    r.add_argument("--overwrite", action="store_true", help="replace an existing output")
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of the file, e.g. populations.E.size=8000",
    )
    r.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    r.add_argument(
        "--threads",
        type=int,
        help="numba threads per process (default: NUMBA_NUM_THREADS, else all cores); "
        "under mpiexec, ranks x threads should not exceed the cores",
    )
    r.add_argument(
        "--checkpoint-every",
        metavar="TIME",
        help='write a checkpoint (<output>.ckpt) every TIME of simulated time, e.g. "500 ms"',
    )

    rs = sub.add_parser("resume", help="continue an interrupted run from its checkpoint")
    rs.add_argument("output", help="the recording of the run (its checkpoint: <output>.ckpt)")
    rs.add_argument("--checkpoint", help="checkpoint file (default: <output>.ckpt)")
    rs.add_argument("--backend", help="numba, numpy or cupy (default: the run's)")
    rs.add_argument(
        "--checkpoint-every", metavar="TIME", help="checkpoint interval (default: the run's)"
    )
    rs.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    rs.add_argument("--threads", type=int, help="numba threads per process")

    v = sub.add_parser("validate", help="check a network file without running it")
    v.add_argument("network")
    v.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    v.add_argument("--backend", default="numba", help="backend of the memory estimate")
    v.add_argument(
        "--ranks", type=int, help="MPI ranks of the memory estimate (default: this job's)"
    )

    c = sub.add_parser("convert", help="convert another tool's model to a network file")
    c.add_argument("source", choices=["ncps"], help="the tool the model comes from")
    c.add_argument("model", help="ncps LTC or CfC state dict (.pt, read weights only, or .npz)")
    c.add_argument("-o", "--output", required=True, help="network file to write (.yaml)")
    c.add_argument(
        "--inputs", required=True, help=".npz with inputs [T, K] (and optionally elapsed [T])"
    )
    c.add_argument(
        "--integrator",
        default="ltc_fused",
        help="ltc_fused (reproduces ncps, default), closed_form, exp_midpoint ...",
    )
    c.add_argument("--ode-unfolds", type=int, default=6, help="ncps's ode_unfolds (default 6)")
    c.add_argument(
        "--no-implicit-constraints",
        action="store_true",
        help="the model was built with implicit_param_constraints=False",
    )
    c.add_argument(
        "--dtype",
        choices=["float64", "float32"],
        default="float64",
        help="LTC: the integrator's precision (float32: ncps's own, faster)",
    )
    c.add_argument("--mode", choices=["default", "pure", "no_gate"], help="CfC: ncps's mode")
    c.add_argument("--activation", default="lecun_tanh", help="CfC: backbone activation")
    c.add_argument("--overwrite", action="store_true")

    i = sub.add_parser("info", help="rates, CV of ISI and spike counts of a recording")
    i.add_argument("recording")
    i.add_argument("--t-start", default="0 ms", help="ignore spikes before this time")
    for name in EXTENSIONS:
        _HANDLERS.update(importlib.import_module(name).register(sub))
    return p


def main(argv=None):
    """Entry point of the ``neurosim`` command."""
    args = _parser().parse_args(argv)
    if args.version:
        from . import __version__

        print(f"neurosim {__version__}")
        return 0
    if args.command is None:
        _parser().print_help()
        return EXIT_BAD_INPUT
    try:
        handlers = {
            "run": _run,
            "resume": _resume,
            "validate": _validate,
            "info": _info,
            "convert": _convert,
        }
        handlers.update(_HANDLERS)
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print("neurosim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of our output went away (neurosim validate net.yaml | head)
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1
    except BadInput as exc:
        if _env_rank() == 0:
            # one line, whatever the message (a YAML reader error spans two)
            text = " ".join(x.strip() for x in str(exc).splitlines() if x.strip())
            print(f"neurosim: error: {text}", file=sys.stderr)
        return EXIT_BAD_INPUT


class BadInput(Exception):
    """Bad input on the command line: printed as one line, exit status 2."""


EXIT_RUN_ERROR = 3


def _env_rank():
    """This process's MPI rank, from the launcher's environment (0 without one)."""
    for var in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK"):
        if var in os.environ:
            try:
                return int(os.environ[var])
            except ValueError:
                return 0
    return 0


_BadInput = BadInput


def _bad_input_types():
    from .backends import BackendError
    from .io.checkpoint import CheckpointError
    from .io.hdf5 import OutputError
    from .network.estimate import MemoryEstimateError
    from .network.spec import SpecError
    from .units import UnitError

    return (SpecError, OutputError, BackendError, UnitError, MemoryEstimateError, CheckpointError)


def _load(args):
    from .network.spec import SpecError, load

    try:
        spec = load(args.network, args.set)
    except SpecError as exc:
        raise _BadInput(str(exc)) from None
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - a reader bug must not end in a traceback
        raise _BadInput(_reader_bug(args.network, exc)) from None
    for w in spec.warnings:
        print(f"neurosim: warning: {args.network}: {w}", file=sys.stderr)
    return spec


def _reader_bug(path, exc):
    """One line for an exception the network-file reader should have turned into a
    SpecError: the file is refused, and the line says where the reader failed."""
    import traceback

    where = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if f"{os.sep}neurosim{os.sep}" in frame.filename:
            rel = frame.filename.split(f"{os.sep}neurosim{os.sep}", 1)[1]
            where = f" at neurosim/{rel}:{frame.lineno}"
            break
    return (
        f"{path}: cannot read this network file ({type(exc).__name__}: {exc}{where}); "
        "the reader should have named the field: please report this file"
    )


def _threads(args):
    if args.threads is not None:
        if args.threads < 1:
            raise BadInput(f"--threads: expected an integer >= 1, got {args.threads}")
        import numba

        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))


class _Stopper:
    """SIGINT / SIGTERM handlers for ``run`` and ``resume``: before the simulation
    exists they end the process at once (KeyboardInterrupt); then they ask it to stop at
    the next step boundary (a second SIGINT stops at once)."""

    def __init__(self):
        import signal

        self.sim = None
        self.signum = None
        self._old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (in-process callers)
                pass

    def _handle(self, signum, _frame):
        import signal

        first = self.signum is None
        self.signum = signum
        if self.sim is None or (not first and signum == signal.SIGINT):
            raise KeyboardInterrupt
        self.sim.request_stop(f"{signal.Signals(signum).name} received")

    def attach(self, sim):
        self.sim = sim

    @property
    def status(self):
        return 128 + (self.signum or 2)

    def restore(self):
        import signal

        for sig, h in self._old.items():
            signal.signal(sig, h)


def _run(args):
    from .parallel.comm import get_comm
    from .simulation import RankError, _agree
    from .units import UnitError, parse_quantity

    _threads(args)
    comm = get_comm()
    try:
        spec = _agree(comm, lambda: _load(args))
    except RankError as exc:
        raise BadInput(f"(rank {exc.rank}) {exc}") from None
    try:
        if args.duration is not None:
            spec.duration = parse_quantity(args.duration, "time")
            if not (spec.duration >= 0 and math.isfinite(spec.duration)):
                raise UnitError(f"expected a time >= 0, got {args.duration!r}")
    except UnitError as exc:
        raise _BadInput(f"--duration: {exc}") from None
    if args.seed is not None:
        try:
            seed = int(args.seed)
            if seed < 0:
                raise ValueError
        except ValueError:
            raise _BadInput(f"--seed: expected an integer >= 0, got {args.seed!r}") from None
        spec.seed = seed
    output = args.output or f"{spec.name}.h5"
    every = args.checkpoint_every
    if every is not None:
        try:
            ms = parse_quantity(every, "time")
        except UnitError as exc:
            raise _BadInput(f"--checkpoint-every: {exc}") from None
        if not (math.isfinite(ms) and ms >= spec.dt):
            raise _BadInput(f"--checkpoint-every: expected a time >= dt, got {every!r}")
    from .simulation import Simulation

    t0 = time.perf_counter()
    stopper = _Stopper()
    try:
        try:
            sim = Simulation(
                spec,
                output=output,
                backend=args.backend,
                overwrite=args.overwrite,
                progress=not args.quiet and sys.stderr.isatty(),
                checkpoint_every=every,
            )
        except _bad_input_types() as exc:
            raise _BadInput(str(exc)) from None
        except RankError as exc:
            raise BadInput(f"(rank {exc.rank}) {exc}") from None
        stopper.attach(sim)
        return _execute(sim, args, output, t0, None, stopper)
    finally:
        stopper.restore()


def _resume(args):
    from .parallel.comm import get_comm
    from .simulation import RankError, Simulation

    _threads(args)
    comm = get_comm()
    if not os.path.exists(args.output) and args.checkpoint is None:
        ck = args.output + ".ckpt"
        if not os.path.exists(ck):
            raise BadInput(f"{args.output}: no such recording, and no checkpoint {ck}")
    done = _finished(args)
    if done is not None:
        if comm.rank == 0:
            print(f"{args.output}: complete at {done:g} ms; nothing to resume")
        return 0
    t0 = time.perf_counter()
    stopper = _Stopper()
    try:
        try:
            sim = Simulation.resume(
                args.output,
                checkpoint=args.checkpoint,
                backend=args.backend,
                progress=not args.quiet and sys.stderr.isatty(),
                checkpoint_every=args.checkpoint_every,
            )
        except (*_bad_input_types(), ValueError) as exc:
            raise _BadInput(str(exc)) from None
        except RankError as exc:
            raise BadInput(f"(rank {exc.rank}) {exc}") from None
        stopper.attach(sim)
        left = max(0, sim.end_step - sim.step)
        if not args.quiet and comm.rank == 0:
            print(
                f"{sim.spec.name}: resuming at {sim.sim_time:g} ms from "
                f"{sim.checkpoint_path}, {left * sim.dt:g} ms to go "
                f"(built in {sim.build_time:.2f} s, {sim.backend_name} backend"
                f"{f' on {comm.size} ranks' if comm.size > 1 else ''})"
            )
        return _execute(sim, args, args.output, t0, left, stopper)
    finally:
        stopper.restore()


def _finished(args):
    """The end time of a recording that is complete up to its run's end (else None)."""
    from .io.checkpoint import CheckpointError, read_checkpoint_attrs
    from .io.hdf5 import open_recording

    ck = args.checkpoint or args.output + ".ckpt"
    if not (os.path.exists(ck) and os.path.exists(args.output)):
        return None
    try:
        a = read_checkpoint_attrs(ck)
        with open_recording(args.output) as rec:
            complete, t_stop = rec.complete, float(rec.attrs.get("t_stop", 0.0))
    except (OSError, CheckpointError):
        return None
    end = int(a.get("end_step", 0)) * float(a.get("dt", 0.0))
    return t_stop if complete and t_stop >= end - 1e-9 else None


def _execute(sim, args, output, t0, steps, stopper):
    """Run a built (or resumed) simulation to its end and report; shared by ``run``
    and ``resume``."""
    from .simulation import Interrupted

    comm = sim.comm
    spec = sim.spec
    talk = not args.quiet and comm.rank == 0
    b = sim.built
    if steps is None:
        if spec.kind != "ltc":
            tot = [comm.allreduce(x) for x in (b.n_neurons, b.n_synapses, len(b.pois_target))]
            extra = f"{tot[2]} Poisson inputs"
        else:
            tot = [b.n_neurons, b.n_synapses]
            extra = f"{b.n_gap} gap-junction directions, {b.n_inputs} input channels"
        if talk:
            ranks = f" on {comm.size} ranks" if comm.size > 1 else ""
            print(
                f"{spec.name}: {tot[0]} neurons, {tot[1]} synapses, {extra}; "
                f"built in {sim.build_time:.2f} s ({sim.backend_name} backend{ranks})"
            )
    try:
        if steps is None:
            sim.run(spec.duration)
        else:
            sim.run(steps * sim.dt)
    except Interrupted as exc:
        if comm.rank == 0:
            where = f"checkpoint {exc.checkpoint} written; " if exc.checkpoint else ""
            print(
                f"neurosim: interrupted ({exc.reason}) at {exc.t:g} ms; {where}{output} holds "
                f"the recording up to there (complete = false); continue with: "
                f"neurosim resume {output}",
                file=sys.stderr,
            )
        sim.close()
        return stopper.status
    except Exception as exc:
        msg = f"neurosim: error{f' on rank {comm.rank}' if comm.size > 1 else ''}: {exc}"
        print(msg, file=sys.stderr)
        if comm.size > 1:
            comm.abort(EXIT_RUN_ERROR)
        return EXIT_RUN_ERROR
    except KeyboardInterrupt:
        last = ""
        if sim.last_checkpoint is not None and sim.last_checkpoint[1]:
            step, path = sim.last_checkpoint
            last = (
                f"; the last checkpoint ({path}, {step * sim.dt:g} ms) resumes with: "
                f"neurosim resume {output}"
            )
        print(
            f"neurosim: interrupted at {sim.sim_time:g} ms; {output} holds the recording "
            f"up to the last flushed chunk (attribute complete = false){last}",
            file=sys.stderr,
        )
        return 130
    wall = time.perf_counter() - t0
    summary = sim.summary()
    sim.close()
    if talk:
        ran = sim.sim_time if steps is None else steps * sim.dt
        span = f"{sim.sim_time:g}" if steps is None else f"{sim.sim_time - ran:g}-{sim.sim_time:g}"
        print(
            f"simulated {span} ms in {sim.last_run_wall:.2f} s "
            f"(real-time factor {sim.last_run_wall / max(1e-12, ran * 1e-3):.3g}); "
            f"total {wall:.2f} s -> {output}"
        )
        if summary:
            _print_table(summary)
        for (pop, var), ids in getattr(sim.plan, "all_ids", {}).items():
            print(f"recorded {pop}/{var} of {len(ids)} neurons")
    return 0


def _print_table(rows, cv=False):
    head = f"{'population':<12} {'neurons':>9} {'spikes':>10} {'rate (Hz)':>10}"
    if cv:
        head += f" {'CV ISI':>8}"
    print(head)
    for pop, r in rows.items():
        line = f"{pop:<12} {r['neurons']:>9} {r['spikes']:>10} {r['rate_hz']:>10.3f}"
        if cv:
            line += f" {r['cv_isi']:>8.3f}"
        print(line)


def _validate(args):
    from .network.estimate import MemoryEstimateError, check_fits, fmt_bytes
    from .parallel.comm import get_comm

    spec = _load(args)
    print(
        f"{args.network}: valid network '{spec.name}' (dt {spec.dt:g} ms, duration "
        f"{spec.duration:g} ms, seed {spec.seed}"
        + (f", {spec.dtype}" if getattr(spec, "dtype", "float64") != "float64" else "")
        + ")"
    )
    for pop in spec.populations.values():
        print(f"  population {pop.name}: {pop.size} x {pop.model}")
    for pr in spec.projections:
        print(f"  projection {pr.name}: {pr.rule} {pr.rule_args or ''}")
    ranks = args.ranks if args.ranks is not None else get_comm().size
    if ranks < 1:
        raise BadInput(f"--ranks: expected an integer >= 1, got {ranks}")
    try:
        est = check_fits(spec, ranks, args.backend)
    except MemoryEstimateError as exc:
        raise BadInput(str(exc)) from None
    avail = "unknown" if est.available is None else fmt_bytes(est.available)
    per = f" on {ranks} ranks" if ranks > 1 else ""
    print(
        f"  memory: {est.describe(6)}{per}; available {avail}"
        f"{f' ({est.source})' if est.source else ''}"
    )
    return 0


def _convert(args):
    from .io.ncps import convert
    from .models.ltc_neuron import INTEGRATORS
    from .network.spec import SpecError

    if args.integrator not in INTEGRATORS:
        raise _BadInput(
            f"--integrator: expected one of {', '.join(INTEGRATORS)}, got {args.integrator!r}"
        )
    base = os.path.splitext(args.output)[0]
    for path in (args.output, base + "_params.npz", base + "_inputs.npz"):
        if os.path.exists(path) and not args.overwrite:
            raise _BadInput(f"{path}: already exists; pass --overwrite to replace it")
    if not os.path.isfile(args.inputs):
        raise _BadInput(f"{args.inputs}: file not found")
    try:
        convert(
            args.model,
            args.output,
            args.inputs,
            integrator=args.integrator,
            ode_unfolds=args.ode_unfolds,
            implicit_constraints=not args.no_implicit_constraints,
            mode=args.mode,
            activation=args.activation,
            dtype=args.dtype,
        )
    except SpecError as exc:
        raise _BadInput(str(exc)) from None
    except (OSError, ValueError) as exc:
        raise _BadInput(f"{args.inputs}: {exc}") from None
    print(f"wrote {args.output} (+ {base}_params.npz, {base}_inputs.npz)")
    return 0


def _info(args):
    from .analysis.stats import population_summary
    from .units import UnitError, parse_quantity

    try:
        t_start = parse_quantity(args.t_start, "time")
    except UnitError as exc:
        raise _BadInput(f"--t-start: {exc}") from None
    from .io.chunked import RecordingError
    from .io.commands import open_neurosim_recording

    # the checks of export and plot: a file, HDF5, a neurosim recording, not truncated
    rec = open_neurosim_recording(args.recording)
    with rec:
        a = rec.attrs
        try:  # before the header, so that a bad window prints only its error
            rows = {p: population_summary(rec, p, t_start=t_start) for p in rec.spike_populations}
        except RecordingError as exc:
            raise _BadInput(str(exc)) from None
        print(
            f"{args.recording}: network '{a.get('network_name', '?')}', "
            f"{a.get('t_stop', 0):g} ms simulated, dt {a.get('dt')} ms, seed {a.get('seed')}, "
            f"backend {a.get('backend')}, complete {bool(a.get('complete'))}"
        )
        _print_table(rows, cv=True)
        for pop in rec.report_populations:
            for var in rec.variables(pop):
                print(f"  report {pop}/{var} ({rec.units(pop, var)})")
    return 0


if __name__ == "__main__":
    # run as ``python -m neurosim.cli``: use the package's module, so that the
    # extensions' ``neurosim.cli.BadInput`` is the class caught in main()
    from neurosim.cli import main as _main

    sys.exit(_main())
