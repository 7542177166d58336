"""A global forecaster: one gradient-boosted model trained across every series of a run (decision 0088).

The local statsforecast models see one series each. A product launched late in a store, or back in
range after months away, has a history of zeros that no local model can lift; its siblings (the same
item in other stores, the department, the store) show the level it is heading for. One scikit-learn
``HistGradientBoostingRegressor`` (Poisson loss: the targets are counts) is trained on all series at
once, **direct multi-horizon**: one row per series, origin day and step ahead ``h``, the features read
at the origin only, the target the units ``h`` days later.

No leakage: a forecast made at a cutoff is trained on origins whose targets fall on or before the
cutoff, and every feature of a row is computed from the days up to its origin (rolling means through
cumulative sums, the weekday means from days at or before the origin). Only columns the caller names
as ``known`` (a calendar: SNAP days, events) are read on the target day. Nothing here is a
hand-written forecaster: the learning is scikit-learn's; this module only lays out the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

GLOBAL = "GlobalGBM"
MAX_CATEGORIES = 255
"""The most levels scikit-learn's native categorical support takes; a code with more is left out."""


@dataclass(frozen=True)
class GlobalSettings:
    """How the model is trained. The defaults were chosen on M5's earlier backtest windows only
    (docs/intelligence.md, "A global model"): never on the held-out window."""

    loss: str = "poisson"
    max_iter: int = 200
    learning_rate: float = 0.05
    min_samples_leaf: int = 100
    max_leaf_nodes: int = 31
    origin_step: int = 7
    max_origins: int = 52
    """Training origins: one a week over the last year before the cutoff (a short history: every day)."""
    min_origin: int = 6
    """The first origin has a week of days behind it."""
    cross_series: bool = True
    """The level of the series' groups (item, department, store) at the origin."""
    categorical: bool = True
    """The group codes themselves as categorical features."""
    seed: int = 0
    threads: int = 1
    """scikit-learn's OpenMP threads. One: a run already keeps the cores busy with statsforecast's
    processes, and on a loaded machine spinning threads multiplied the wall time (a fit of 4.8 s
    with one thread sat in a test that took 272 s with the default threads, load 20 on 2 cores)."""

    def but(self, **changes: Any) -> GlobalSettings:
        return replace(self, **changes)


@dataclass
class _Panel:
    """The history as matrices: one row per series, one column per day."""

    ids: Any
    days: Any
    y: Any
    cumulative: Any
    sold_days: Any
    last_sale: Any
    price: Any
    known: dict[str, Any]
    groups: dict[str, Any]


def _panel(
    history: pd.DataFrame, static: pd.DataFrame | None, known: Sequence[str], price: str | None
) -> _Panel:
    import numpy as np
    import pandas as pd

    ids = pd.Index(sorted(history["unique_id"].unique()))
    days = pd.date_range(history["ds"].min(), history["ds"].max(), freq="D")
    indexed = history.set_index(["unique_id", "ds"])

    def matrix(column: str, fill: float | None) -> Any:
        wide = indexed[column].unstack("ds").reindex(index=ids, columns=days)
        if fill is None:
            wide = wide.ffill(axis=1).bfill(axis=1).fillna(0.0)
        return wide.fillna(fill if fill is not None else 0.0).to_numpy(dtype=np.float64)

    y = np.clip(matrix("y", 0.0), 0, None)
    sold = (y > 0).astype(np.float64)
    zeros = np.zeros((len(ids), 1))
    positions = np.where(y > 0, np.arange(len(days))[None, :], -1)
    groups: dict[str, Any] = {}
    if static is not None:
        for column in static.columns:
            codes = pd.Categorical(static[column].reindex(ids).astype(str)).codes
            groups[column] = codes.astype(np.int64)
    return _Panel(
        ids=ids,
        days=days,
        y=y,
        cumulative=np.hstack([zeros, np.cumsum(y, axis=1)]),
        sold_days=np.hstack([zeros, np.cumsum(sold, axis=1)]),
        last_sale=np.maximum.accumulate(positions, axis=1),
        price=matrix(price, None) if price and price in history.columns else None,
        known={column: matrix(column, 0.0) for column in known if column in history.columns},
        groups=groups,
    )


def _mean_before(panel: _Panel, origin: int, days: int) -> Any:
    """Each series' mean over the ``days`` days ending at ``origin`` (fewer at the start)."""
    start = max(0, origin + 1 - days)
    return (panel.cumulative[:, origin + 1] - panel.cumulative[:, start]) / (origin + 1 - start)


def _rows(
    panel: _Panel, origin: int, steps: Sequence[int], settings: GlobalSettings
) -> tuple[Any, list[str]]:
    """The feature rows of every series at ``origin`` for each step ahead: read from the days up to
    ``origin`` only, except the ``known`` calendar columns, read on the target day."""
    import numpy as np

    n = len(panel.ids)
    level7 = _mean_before(panel, origin, 7)
    level28 = _mean_before(panel, origin, 28)
    level91 = _mean_before(panel, origin, 91)
    sold_total = panel.cumulative[:, origin + 1]
    sold_share = (panel.sold_days[:, origin + 1] - panel.sold_days[:, max(0, origin - 27)]) / min(
        28, origin + 1
    )
    ever_sold = sold_total > 0
    # The first sale up to the origin: the first day whose cumulative count is positive.
    first = np.where(ever_sold, np.argmax(panel.cumulative[:, 1 : origin + 2] > 0, axis=1), origin + 1)
    since_first = np.where(ever_sold, origin - first, -1).astype(np.float64)
    active_days = np.maximum(origin - first + 1, 1)
    active_level = np.where(
        ever_sold, (sold_total - panel.cumulative[np.arange(n), first]) / active_days, 0.0
    )
    last = panel.last_sale[:, origin]
    since_last = np.where(last >= 0, origin - last, -1).astype(np.float64)
    base = {
        "level7": level7,
        "level28": level28,
        "level91": level91,
        "last": panel.y[:, origin],
        "sold_share28": sold_share,
        "since_first": since_first,
        "since_last": since_last,
        "active_level": active_level,
    }
    if panel.price is not None:
        recent = panel.price[:, max(0, origin - 90) : origin + 1].mean(axis=1)
        base["price_ratio"] = np.divide(panel.price[:, origin], recent, out=np.ones(n), where=recent > 0)
    if settings.cross_series:
        for name, codes in panel.groups.items():
            size = np.bincount(codes)
            if size.max() < 2:
                continue
            for label, level in (("level28", level28), ("level91", level91)):
                mean = np.bincount(codes, weights=level) / np.maximum(size, 1)
                base[f"{name}_{label}"] = mean[codes]
            active = np.bincount(codes, weights=active_level) / np.maximum(size, 1)
            base[f"{name}_active_level"] = active[codes]
    codes_used = {}
    if settings.categorical:
        codes_used = {
            f"{name}_code": codes for name, codes in panel.groups.items() if codes.max() < MAX_CATEGORIES
        }
    blocks, names = [], []
    weekday0 = panel.days[0].dayofweek
    for step in steps:
        target = origin + step
        # The same weekday's mean over the four latest weeks that end at or before the origin.
        back = -(-step // 7)
        same_days = [target - 7 * k for k in range(back, back + 4) if target - 7 * k >= 0]
        weekday_level = panel.y[:, same_days].mean(axis=1) if same_days else level28
        columns = {
            **base,
            "step": np.full(n, step, dtype=np.float64),
            "weekday": np.full(n, (weekday0 + target) % 7, dtype=np.float64),
            "weekday_level": weekday_level,
        }
        for column, values in panel.known.items():
            columns[f"known_{column}"] = values[:, target] if target < values.shape[1] else np.zeros(n)
        for column, codes in codes_used.items():
            columns[column] = codes.astype(np.float64)
        names = list(columns)
        blocks.append(np.column_stack([columns[name] for name in names]))
    return np.vstack(blocks), names


def _origins(cutoff: int, settings: GlobalSettings) -> list[int]:
    available = cutoff - settings.min_origin
    step = settings.origin_step if available // settings.origin_step >= 8 else 1
    found = [cutoff - step * k for k in range(1, settings.max_origins + 1)]
    return [origin for origin in found if origin >= settings.min_origin]


def _fit_predict(panel: _Panel, cutoff: int, horizon: int, settings: GlobalSettings) -> Any:
    """Train on the origins before ``cutoff`` (a column index), forecast ``horizon`` days after it."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    steps = list(range(1, horizon + 1))
    features, targets = [], []
    for origin in _origins(cutoff, settings):
        reachable = [step for step in steps if origin + step <= cutoff]
        rows, names = _rows(panel, origin, reachable, settings)
        features.append(rows)
        targets.append(np.concatenate([panel.y[:, origin + step] for step in reachable]))
    ahead, names = _rows(panel, cutoff, steps, settings)
    n = len(panel.ids)
    if not features:
        # Too short to learn from: the series' four-week level (the model's own starting point).
        return np.tile(_mean_before(panel, cutoff, 28), horizon).reshape(horizon, n).T
    categorical = [name.endswith("_code") for name in names]
    model = HistGradientBoostingRegressor(
        loss=settings.loss,
        max_iter=settings.max_iter,
        learning_rate=settings.learning_rate,
        min_samples_leaf=settings.min_samples_leaf,
        max_leaf_nodes=settings.max_leaf_nodes,
        categorical_features=categorical if any(categorical) else None,
        early_stopping=False,
        random_state=settings.seed,
    )
    with threadpool_limits(limits=settings.threads):
        model.fit(np.vstack(features), np.concatenate(targets))
        predicted = np.clip(model.predict(ahead), 0, None)
    # Rows are step-major (all series for step 1, then step 2, ...): one column per step.
    return predicted.reshape(horizon, n).T


def _frame(panel: _Panel, cutoff: int, values: Any, horizon: int) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    start = panel.days[cutoff]
    ds = pd.date_range(start + pd.Timedelta(days=1), periods=horizon, freq="D")
    return pd.DataFrame(
        {
            "unique_id": np.repeat(panel.ids.to_numpy(), horizon),
            "ds": np.tile(ds, len(panel.ids)),
            GLOBAL: values.ravel(),
        }
    )


def global_backtest(
    history: pd.DataFrame,
    *,
    horizon: int,
    windows: int,
    step: int | None = None,
    static: pd.DataFrame | None = None,
    known: Sequence[str] = (),
    price: str | None = "price",
    settings: GlobalSettings | None = None,
) -> pd.DataFrame:
    """The global model's rolling-origin backtest in statsforecast's shape: ``unique_id, ds, cutoff``
    and the :data:`GLOBAL` column, one model trained per cutoff on the days up to it. ``static``:
    per ``unique_id`` (index) the group codes (item, department, store) its siblings share."""
    import pandas as pd

    settings = settings or GlobalSettings()
    panel = _panel(history, static, known, price)
    last = len(panel.days) - 1
    step = step or horizon
    parts = []
    for k in range(windows):
        cutoff = last - horizon - step * (windows - 1 - k)
        found = _frame(panel, cutoff, _fit_predict(panel, cutoff, horizon, settings), horizon)
        found["cutoff"] = panel.days[cutoff]
        parts.append(found)
    return pd.concat(parts, ignore_index=True)[["unique_id", "ds", "cutoff", GLOBAL]]


def global_forecast(
    history: pd.DataFrame,
    *,
    horizon: int,
    static: pd.DataFrame | None = None,
    price: str | None = "price",
    settings: GlobalSettings | None = None,
) -> pd.DataFrame:
    """``unique_id, ds`` and :data:`GLOBAL`: the ``horizon`` days after the history's last day, from
    a model trained on the whole history (no ``known`` columns: their future is not in it)."""
    settings = settings or GlobalSettings()
    panel = _panel(history, static, (), price)
    cutoff = len(panel.days) - 1
    return _frame(panel, cutoff, _fit_predict(panel, cutoff, horizon, settings), horizon)


def static_from_ids(ids: Sequence[str]) -> pd.DataFrame:
    """The groups of the product's own series ids (``product@store``): the product, shared by its
    stores and the web, and the store (decision 0088)."""
    import pandas as pd

    product = [str(uid).split("@", 1)[0] for uid in ids]
    store = [str(uid).split("@", 1)[-1] for uid in ids]
    return pd.DataFrame({"item": product, "store": store}, index=pd.Index(ids, name="unique_id"))
