"""State reports exported as SONATA report files read back through libsonata."""

import numpy as np
import pytest

import neurosim
from neurosim.cli import main


def test_libsonata_reads_exported_reports(recording, tmp_path, capsys):
    libsonata = pytest.importorskip("libsonata")
    out = tmp_path / "rep.h5"
    assert main(["export", str(recording), "--to", "sonata", "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    n = 0
    with neurosim.open(recording) as rec:
        for pop in rec.report_populations:
            for var in rec.variables(pop):
                times, data, ids = rec.report(pop, var)
                reader = libsonata.ElementReportReader(str(tmp_path / f"rep.{var}.h5"))
                assert pop in reader.get_population_names()
                p = reader[pop]
                assert p.data_units == rec.units(pop, var) and p.time_units == "ms"
                got = p.get(node_ids=[int(i) for i in ids])
                assert list(np.asarray(got.ids)[:, 0]) == list(ids)
                np.testing.assert_allclose(np.asarray(got.times), times, rtol=0, atol=1e-9)
                # SONATA's data are float32
                assert np.array_equal(np.asarray(got.data), data.astype(np.float32))
                n += data.size
    assert n > 100
    # an existing output is kept without --overwrite
    assert main(["export", str(recording), "--to", "sonata", "-o", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
