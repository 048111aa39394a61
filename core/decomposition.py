"""The :class:`Decomposition` of :func:`core.pca.decompose` (METHODS.md 2.1-2.3) and its ``.npz``
file: save, load and the checks that make a truncated, corrupted or foreign file a clear error.
``core.pca`` re-exports it."""

import os
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

NAN_METHOD = "iterative low-rank imputation (METHODS.md 2.6)"
FILE_FORMAT_VERSION = 1


@dataclass
class Decomposition:
    """Result of :func:`decompose` (METHODS.md 2.1-2.3); see the module docstring.

    Attributes:
        mean_mm: (n,) per-epoch spatial mean mu_j.
        spatial: S, (m, k), orthonormal columns (over the fitted rows; NaN rows for all-NaN points).
        sigma: (k,) singular values (W = diag(sigma)), mm.
        temporal: T, (n, k), orthonormal columns.
        variance_share, cumulative_share: (k,) sigma_k^2 / sum(all sigma^2) and its running sum.
        all_sigma: every singular value of X' (min(m, n) of them), descending.
        suggested_k, suggestion_reason: the automatic choice of k (2.4) and why.
        dates: (n,) datetime64[D] or None; ids: (m,) point ids.
        labels: proposed class of each component (core.pca_diagnostics), user-overridable.
        diagnostics: name -> (k,) array of the component statistics behind ``labels``.
        nan_method: how gaps were handled; n_points_fit: rows used in the fit;
        n_points_with_gaps: rows that had gaps (imputed); impute_iterations: EM iterations run.
    """

    mean_mm: np.ndarray
    spatial: np.ndarray
    sigma: np.ndarray
    temporal: np.ndarray
    all_sigma: np.ndarray
    dates: Optional[np.ndarray] = None
    ids: Optional[np.ndarray] = None
    labels: List[str] = field(default_factory=list)
    suggested_k: int = 0
    suggestion_reason: str = ""
    diagnostics: Dict[str, np.ndarray] = field(default_factory=dict)
    nan_method: str = NAN_METHOD
    n_points_fit: int = 0
    n_points_with_gaps: int = 0
    impute_iterations: int = 0

    @property
    def k(self) -> int:
        return int(self.sigma.shape[0])

    @property
    def variance_share(self) -> np.ndarray:
        total = float(np.sum(self.all_sigma**2))
        return self.sigma**2 / total if total > 0 else np.zeros_like(self.sigma)

    @property
    def cumulative_share(self) -> np.ndarray:
        return np.cumsum(self.variance_share)

    def component_maps_mm(self) -> np.ndarray:
        """(m, k) maps S_k * sigma_k in mm (METHODS.md 2.3), what the seed plots."""
        return self.spatial * self.sigma[None, :]

    def _component_index(self, components) -> np.ndarray:
        if components is None:
            return np.arange(self.k)
        numbers = np.atleast_1d(np.asarray(components, dtype=np.int64))
        bad = numbers[(numbers < 1) | (numbers > self.k)]
        if bad.size:
            raise ValueError(f"components: {bad.tolist()} out of range 1..{self.k} (1-based numbers)")
        return numbers - 1

    def reconstruct(self, components=None) -> np.ndarray:
        """``S_c diag(sigma_c) T_c^T`` (m, n) for 1-based component numbers (None = all), no mean.

        METHODS.md 2.2; add ``mean_mm`` to get back to X.
        """
        idx = self._component_index(components)
        return (self.spatial[:, idx] * self.sigma[idx]) @ self.temporal[:, idx].T

    def save(self, path) -> None:
        """Write the decomposition as an ``.npz`` file (no pickles; loads with :meth:`load`)."""
        ids = np.asarray(self.ids)
        if ids.dtype == object:
            ids = ids.astype(str)
        arrays = {
            "format_version": np.int64(FILE_FORMAT_VERSION),
            "mean_mm": self.mean_mm,
            "spatial": self.spatial,
            "sigma": self.sigma,
            "temporal": self.temporal,
            "all_sigma": self.all_sigma,
            "ids": ids,
            "labels": np.asarray(self.labels, dtype=str),
            "suggested_k": np.int64(self.suggested_k),
            "suggestion_reason": np.asarray(self.suggestion_reason),
            "nan_method": np.asarray(self.nan_method),
            "n_points_fit": np.int64(self.n_points_fit),
            "n_points_with_gaps": np.int64(self.n_points_with_gaps),
            "impute_iterations": np.int64(self.impute_iterations),
        }
        if self.dates is not None:
            arrays["dates_days"] = np.asarray(self.dates, dtype="datetime64[D]").astype(np.int64)
        for name, values in self.diagnostics.items():
            arrays[f"diag_{name}"] = np.asarray(values)
        with open(path, "wb") as fh:  # a file object: np.savez would append ".npz" to a bare name
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path) -> "Decomposition":
        """Read a file written by :meth:`save`; ValueError saying what is wrong if it is not one
        (not a NumPy archive, truncated or corrupted, arrays missing)."""
        what = f"decomposition file {os.path.basename(os.fspath(path))!r}"
        try:
            with open(path, "rb") as handle:
                head = handle.read(4)
        except OSError as exc:
            raise ValueError(f"{what}: cannot open it ({exc.strerror})") from exc
        if head != b"PK\x03\x04":
            raise ValueError(
                f"{what}: not a NumPy .npz archive (it starts with {head!r}); give the .npz file that "
                "'PCA decomposition' wrote"
            )
        try:
            return cls._load(path, what)
        except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile, zlib.error) as exc:
            if isinstance(exc, ValueError) and str(exc).startswith(what):
                raise
            raise ValueError(
                f"{what}: truncated or corrupted ({type(exc).__name__}: {exc}); write it again with "
                "'PCA decomposition'"
            ) from exc

    @classmethod
    def _load(cls, path, what) -> "Decomposition":
        data = np.load(path, allow_pickle=False)
        with data:
            missing = {"mean_mm", "spatial", "sigma", "temporal", "all_sigma"} - set(data.files)
            if missing:
                raise ValueError(f"{what}: missing arrays {sorted(missing)}")
            dates = None
            if "dates_days" in data.files:
                dates = data["dates_days"].astype("datetime64[D]")

            def scalar(name, kind, default):
                return kind(data[name]) if name in data.files else default

            return cls(
                mean_mm=data["mean_mm"],
                spatial=data["spatial"],
                sigma=data["sigma"],
                temporal=data["temporal"],
                all_sigma=data["all_sigma"],
                dates=dates,
                ids=data["ids"] if "ids" in data.files else None,
                labels=[str(s) for s in data["labels"]] if "labels" in data.files else [],
                suggested_k=scalar("suggested_k", int, 0),
                suggestion_reason=scalar("suggestion_reason", str, ""),
                diagnostics={f[5:]: data[f] for f in data.files if f.startswith("diag_")},
                nan_method=scalar("nan_method", str, NAN_METHOD),
                n_points_fit=scalar("n_points_fit", int, 0),
                n_points_with_gaps=scalar("n_points_with_gaps", int, 0),
                impute_iterations=scalar("impute_iterations", int, 0),
            )
