"""How long the runs of a study's presets would take here, from the runs already in its store."""

from __future__ import annotations

from .grid import RunConfig, expand, setting_key
from .spec import SpecError, StudySpec, load_spec
from .store import Run, RunStore

__all__ = ["preset_lines"]


def _seconds(run: Run) -> float | None:
    value = getattr(run, "metrics", {}).get("train_seconds")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else None


def preset_lines(spec: StudySpec, store: RunStore, overrides: list[str] | None = None) -> list[str]:
    """Each preset: its runs, how many the store has done, and the training time the rest would
    take, estimated from the store's done runs (same settings but the seed, else the same settings
    but seed and epochs, scaled per epoch); one core per run, so divide by --jobs."""
    import statistics

    done = store.results().done if store.root.is_dir() else []
    per_cell: dict[str, list[float]] = {}
    per_epoch: dict[str, list[float]] = {}
    everything: list[float] = []
    for run in done:
        seconds = _seconds(run)
        if seconds is None:
            continue
        epochs = run.metrics.get("epochs_run") or run.config.train.get("epochs") or 1
        per_cell.setdefault(setting_key(run.config), []).append(seconds)
        key = _without_epochs(run.config)
        per_epoch.setdefault(key, []).append(seconds / max(1, int(epochs)))
        everything.append(seconds / max(1, int(epochs)))
    lines = []
    for name in spec.presets:
        try:
            configs = expand(load_spec(spec.path or spec.name, name, overrides))
        except SpecError as e:
            lines.append(f"  {name}: invalid ({e})")
            continue
        finished = sum(store.status(c.run_id) == "done" for c in configs) if store.root.is_dir() else 0
        total, guessed, unknown = 0.0, 0, 0
        for c in configs:
            if store.root.is_dir() and store.status(c.run_id) == "done":
                continue
            cell = per_cell.get(setting_key(c))
            epochs = int(c.train.get("epochs", 1))
            if cell:
                total += statistics.median(cell)
            elif per_epoch.get(_without_epochs(c)):
                total += statistics.median(per_epoch[_without_epochs(c)]) * epochs
            elif everything:
                total += statistics.median(everything) * epochs
                guessed += 1
            else:
                unknown += 1
        left = len(configs) - finished
        if not left:
            estimate = "all done"
        elif unknown:
            estimate = (f"no time estimate: the store {store.root} has no timed runs yet (sweep the quick preset "
                        "first; its runs calibrate the rest)")
        else:
            rough = f"; rough: {guessed} runs have no similar run in the store" if guessed else ""
            capped = any(c.train.get("stop_when_converged") for c in configs)
            estimate = (f"{'at most ' if capped else ''}about {_duration(total)} of training for the {left} left, "
                        "one core per run (divide by "
                        f"--jobs){rough}")
        mark = " (selected)" if name == spec.preset else ""
        lines.append(f"  {name}{mark}: {len(configs)} runs, {finished} done; {estimate}")
    return lines


def _without_epochs(config: RunConfig) -> str:
    train = {k: v for k, v in config.train.items() if k not in ("epochs", "snapshot_epochs")}
    return setting_key(RunConfig(config.task, config.data, config.model, train, config.seed, config.params))


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "under 1 s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
