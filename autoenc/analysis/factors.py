"""The grid as an experimental design: factors, the compared factor, the strata and the seeds.

Every analysis reads its structure from here, so that no report pools runs that differ in a
setting. The rules (docs/statistics.md, "Which comparison a report makes"):

- Every grid axis except ``seed`` is a **factor**; its levels are the grid values, in grid order.
  The seeds are the replicates.
- The **compared factor** is named by ``[study] compare``:

  - ``compare = "activation"``: every level of that axis. With two levels the contrast is the
    second grid value against the first (the first is the reference: ``loss = ["mse", "bce"]``
    gives BCE − MSE); with more, every pair (later grid value − earlier), Holm-adjusted.
  - ``compare = { factor = "activation", levels = ["tanh", "relu"] }``: those levels only; two
    levels give ``tanh − relu`` (the second is the reference), more give every pair.
  - ``compare = { factor = "activation", reference = "relu" }``: every other level against the
    reference (Holm over those contrasts).

  Without ``compare`` the rule :data:`COMPARE_RULE` picks it, and the report says so.
- The **strata** are every other factor that varies: a comparison is made seed against seed
  inside one stratum (one combination of the other factors' values), never across strata.
- Runs of one stratum and level differ only in their seed (checked by :func:`setting_key`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..study.grid import setting_key, varying_settings  # noqa: F401  (re-exported: the settings side of the design)

if TYPE_CHECKING:
    from ..study.spec import StudySpec

__all__ = ["COMPARE_RULE", "STRUCTURAL", "Contrast", "Design", "DesignError", "check_structural", "design", "hashable",
           "setting_key", "varying_settings"]

#: axes that describe the network's size: strata by default, never picked as the comparison by the rule
STRUCTURAL = ("depth", "latent_size")
COMPARE_RULE = ("the training loss when it varies in the grid, else the one other grid axis that varies besides "
                "the seed, depth and latent size")


class DesignError(ValueError):
    """The grid cannot be analysed as the study asks; the message says what to change."""


def hashable(value: Any) -> Any:
    """A grid value usable as a dict key (lists, e.g. ``widths``, become tuples; NumPy scalars
    Python ones)."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    if isinstance(value, list | tuple):
        return tuple(hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, hashable(v)) for k, v in value.items()))
    return value


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "-".join(map(str, value))
    return str(value)


@dataclass(frozen=True)
class Contrast:
    """Level ``a`` against level ``b`` of the compared factor: differences are ``a − b``."""

    a: Any
    b: Any


@dataclass(frozen=True)
class Design:
    """The factors of a grid and the comparison a report makes (module docstring).

    Attributes
    ----------
    factors : dict
        Every non-seed grid axis -> its levels in grid order (single-level axes included).
    compared : str or None
        The compared factor; None when the grid has none to compare.
    levels : tuple
        The compared levels (a subset of the factor's levels when ``compare`` names them).
    contrasts : tuple of Contrast
    reference : object or None
        The level every contrast is against, when there is one.
    seeds : tuple of int
    how : str
        How the compared factor was chosen, in words (for the report).
    """

    factors: dict[str, tuple[Any, ...]]
    compared: str | None
    levels: tuple[Any, ...] = ()
    contrasts: tuple[Contrast, ...] = ()
    reference: Any = None
    seeds: tuple[int, ...] = (0,)
    how: str = ""
    pairwise: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def varying(self) -> list[str]:
        """The factors with more than one level, in grid order."""
        return [k for k, v in self.factors.items() if len(v) > 1]

    @property
    def strata(self) -> list[str]:
        """The varying factors other than the compared one: comparisons stay inside them."""
        return [k for k in self.varying if k != self.compared]

    def stratum(self, params: Mapping[str, Any], keys: Sequence[str] | None = None) -> tuple[Any, ...]:
        """The stratum of a run (its values of ``keys``, default :attr:`strata`), hashable."""
        return tuple(hashable(params.get(k)) for k in (self.strata if keys is None else keys))

    def order(self, factor: str, value: Any) -> int:
        """Position of ``value`` in the factor's grid order (unknown values last)."""
        levels = [hashable(v) for v in self.factors.get(factor, ())]
        v = hashable(value)
        return levels.index(v) if v in levels else len(levels)

    # ---- words -------------------------------------------------------------------------
    def label(self, value: Any, factor: str | None = None) -> str:
        """A level in a table or verdict: ``BCE`` for a loss, else the value (``tanh``)."""
        factor = factor or self.compared
        return _text(value).upper() if factor == "loss" else _text(value)

    def long_label(self, value: Any, factor: str | None = None) -> str:
        """A level in a sentence: ``BCE-trained`` for a loss, else ``activation tanh``."""
        factor = factor or self.compared
        if factor == "loss":
            return f"{_text(value).upper()}-trained"
        return f"{str(factor).replace('_', ' ')} {_text(value)}"

    def describe(self) -> str:
        """One sentence for the report: the compared factor, its contrasts, the strata and how it was chosen."""
        if self.compared is None:
            return f"No factor is compared: {self.how}."
        pairs = ", ".join(f"{self.label(c.a)} vs {self.label(c.b)}" for c in self.contrasts)
        strata = ", ".join(k.replace("_", " ") for k in self.strata) or "none"
        family = ""
        if len(self.contrasts) > 1:
            against = "every pair of levels" if self.pairwise else f"each level against {self.label(self.reference)}"
            family = f" ({against}, Holm-adjusted over the contrasts)"
        return (f"Compared factor: {self.compared.replace('_', ' ')} ({self.how}); contrasts {pairs}{family}; "
                f"strata: {strata}; seeds {', '.join(map(str, self.seeds))} are the replicates.")


def _grid_levels(spec: StudySpec) -> dict[str, tuple[Any, ...]]:
    return {k: tuple(v) for k, v in spec.grid.items() if k != "seed"}


def _resolve_values(spec: StudySpec, factor: str, values: Any, what: str) -> list[Any]:
    levels = [hashable(v) for v in spec.grid.get(factor, [])]
    if not isinstance(values, list) or not values:
        raise DesignError(f"[study].compare.{what} must be a non-empty list of values of [grid].{factor}")
    out = []
    for v in values:
        if hashable(v) not in levels:
            raise DesignError(f"[study].compare.{what}: {v!r} is not a value of [grid].{factor} "
                              f"({[_text(x) for x in spec.grid[factor]]})")
        out.append(spec.grid[factor][levels.index(hashable(v))])
    return out


def design(spec: StudySpec, *, require: bool = False) -> Design:
    """The design of ``spec``'s grid (module docstring).

    Parameters
    ----------
    spec : StudySpec
    require : bool
        Raise :class:`DesignError` when no compared factor can be chosen by the rule because
        several axes vary (an analysis that compares needs one). A ``compare`` that names a
        missing axis or value always raises.
    """
    factors = _grid_levels(spec)
    seeds = tuple(int(s) for s in spec.grid.get("seed", [0]))
    varying = [k for k, v in factors.items() if len(v) > 1]
    given = spec.extra.get("compare")
    levels_given = reference = None
    if given is None:
        candidates = [k for k in varying if k not in STRUCTURAL]
        if "loss" in candidates:
            compared, how = "loss", f"chosen by the rule: {COMPARE_RULE}"
        elif len(candidates) == 1:
            compared, how = candidates[0], f"chosen by the rule: {COMPARE_RULE}"
        elif not candidates:
            return Design(factors, None, seeds=seeds,
                          how="no grid axis varies besides the seed, depth and latent size")
        else:
            if require:
                raise DesignError(
                    f"several grid axes could be the comparison ({', '.join(candidates)}): name one in the study "
                    f"file, e.g. [study] compare = \"{candidates[0]}\" (the others become strata)")
            return Design(factors, None, seeds=seeds,
                          how=f"several axes vary ({', '.join(candidates)}) and [study].compare names none")
    else:
        if isinstance(given, str):
            compared = given
        elif isinstance(given, dict):
            unknown = sorted(set(given) - {"factor", "levels", "reference"})
            if unknown or not isinstance(given.get("factor"), str):
                raise DesignError("[study].compare must be a grid axis name or a table "
                                  "{ factor = \"<axis>\", levels = [...] } or { factor = \"<axis>\", reference = ... }"
                                  + (f"; unknown keys {unknown}" if unknown else ""))
            compared = given["factor"]
            levels_given = given.get("levels")
            reference = given.get("reference")
            if levels_given is not None and reference is not None:
                raise DesignError("[study].compare: give levels or a reference, not both")
        else:
            raise DesignError(f"[study].compare = {given!r} must be a grid axis name or a table")
        if compared == "seed":
            raise DesignError("[study].compare = \"seed\": the seeds are the replicates, not a factor; "
                              "name a grid axis")
        if compared not in factors:
            raise DesignError(f"[study].compare names {compared!r}, which is not a [grid] axis "
                              f"(axes: {', '.join(factors) or 'none'}); add it to [grid] with the values to compare")
        how = "named by [study].compare"
    all_levels = list(factors[compared])
    if levels_given is not None:
        chosen = _resolve_values(spec, compared, levels_given, "levels")
        if len({hashable(v) for v in chosen}) < 2:
            raise DesignError("[study].compare.levels needs at least two different values")
        if len(chosen) == 2:
            contrasts = (Contrast(chosen[0], chosen[1]),)
            return Design(factors, compared, tuple(chosen), contrasts, chosen[1], seeds, how)
        pairs = tuple(Contrast(b, a) for a, b in itertools.combinations(chosen, 2))
        return Design(factors, compared, tuple(chosen), pairs, None, seeds, how, pairwise=True)
    if len(all_levels) < 2:
        raise DesignError(f"[study].compare names {compared!r}, but [grid].{compared} has one value; give it the "
                          "values to compare")
    if reference is not None:
        ref = _resolve_values(spec, compared, [reference], "reference")[0]
        others = [v for v in all_levels if hashable(v) != hashable(ref)]
        return Design(factors, compared, tuple(all_levels), tuple(Contrast(v, ref) for v in others), ref, seeds, how)
    if len(all_levels) == 2:
        return Design(factors, compared, tuple(all_levels), (Contrast(all_levels[1], all_levels[0]),),
                      all_levels[0], seeds, how)
    pairs = tuple(Contrast(b, a) for a, b in itertools.combinations(all_levels, 2))
    return Design(factors, compared, tuple(all_levels), pairs, None, seeds, how, pairwise=True)


def check_structural(d: Design, task: str) -> None:
    """The autoencoder analysis compares training choices at equal depth and latent size: a
    compared factor among :data:`STRUCTURAL` cannot be analysed by it."""
    if task == "autoencoder" and d.compared in STRUCTURAL:
        raise DesignError(f"[study].compare = {d.compared!r}: the autoencoder report compares training choices at "
                          "equal depth and latent size (its strata; the error-vs-latent-size trend and the tables "
                          "cover them); compare another grid axis, or use report = \"generic\"")
