"""An installation without the ``intelligence`` extra starts, and says what to install when asked to
forecast, replenish, scan or triage (decision 0073)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import sys

    class WithoutTheExtra:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {"pandas", "numpy", "sklearn", "scipy", "statsforecast"}:
                raise ImportError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, WithoutTheExtra())

    import retailcore.entrypoints.api.app  # every router
    import retailcore.entrypoints.cli.main  # every command group
    import retailcore.simulation.simulator  # noqa: F401
    from retailcore.analytics.anomalies import services as anomalies
    from retailcore.analytics.replenishment import services as replenishment
    from retailcore.analytics.triage import services as triage
    from retailcore.analytics.forecasts.forecasting import IntelligenceMissing

    assert not {"pandas", "numpy", "sklearn", "statsforecast"} & set(sys.modules), "imported at start"
    calls = {
        "replenishment": lambda: replenishment.trailing_estimates(None, None, as_of=None, horizon_days=7),
        "anomalies": lambda: anomalies.robust_z(None, "discount_rate"),
        "triage": lambda: triage.Classifier.train([], []),
    }
    for name, call in calls.items():
        try:
            call()
        except IntelligenceMissing as refused:
            print(name, refused.code, refused.detail)
        else:
            raise SystemExit(f"{name} ran without the extra")
    """
)


def test_the_app_and_the_cli_start_without_the_extra_and_name_it_when_it_is_needed() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["replenishment", "anomalies", "triage"]
    for line in lines:
        assert " intelligence-extra-missing " in line and "pip install 'retailcore[intelligence]'" in line
