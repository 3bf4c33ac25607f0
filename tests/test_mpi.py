"""Real MPI: two ranks under the MPICH mpirun installed by requirements.txt."""

import pytest

from tests.helpers import assert_ok, run_mpi


@pytest.mark.parametrize(
    "check",
    [
        "gradient_averages",
        "statistics_over_ranks",
        "ranks_end_with_identical_parameters",
        "ranks_end_with_identical_parameters_after_minibatch_updates",
    ],
)
def test_under_two_ranks(check):
    result = run_mpi(2, ["-m", "tests.mpi_checks", check], timeout=180)
    assert_ok(result)
    assert f"OK {check}" in result.stdout
