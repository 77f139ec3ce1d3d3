#!/bin/bash
# Slurm example: brunel2000 on 4 nodes x 8 ranks, one numba thread per rank.
# Submit with: sbatch benchmarks/cluster/slurm_brunel.sh
#SBATCH --job-name=neurosim-brunel
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=8
#SBATCH --cpus-per-task=1
#SBATCH --time=00:30:00
#SBATCH --output=neurosim-%j.out

set -euo pipefail
# A venv on a shared file system, with mpi4py built against the cluster's MPI:
#   module load openmpi   (or the site's MPI)
#   python3 -m venv ~/neurosim-venv && . ~/neurosim-venv/bin/activate
#   pip install --no-binary=mpi4py mpi4py && pip install -e /path/to/neurosim
# (do not install the `mpi` extra there: its pip MPICH would shadow the cluster's MPI)
. ~/neurosim-venv/bin/activate

# numba compiles on first use and caches on disk: compile once before the job starts
# ranks, or give each node a cache of its own so ranks do not race on a shared one.
export NUMBA_CACHE_DIR=${TMPDIR:-/tmp}/numba-cache-$SLURM_JOB_ID
export NUMBA_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}

# neurosim recognises srun/mpiexec from the environment (PMI_*, OMPI_*, PMIX_*) and
# only then initialises MPI; rank files out.rank<r>.h5 are merged into out.h5 at the end.
srun --mpi=pmix python -m neurosim.cli run networks/brunel2000.yaml \
    -o "brunel-$SLURM_JOB_ID.h5" --quiet
python -m neurosim.cli info "brunel-$SLURM_JOB_ID.h5"
