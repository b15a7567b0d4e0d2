"""Offline attribute judges of faces: age, gender and ethnicity from a face feature.

The Speech2Face paper (§4.1, its Fig. 5) judges faces with Face++, a commercial web service:
age, gender and ethnicity of the faces reconstructed from voices against those of the true
faces, as confusion matrices. These judges are the offline stand-in: scikit-learn models on
dlib face features, fitted on UTKFace's train split (adults) by
``preprocess/fit_face_judges.py`` and shipped as ``face_judges.h5`` (plain arrays, no pickle):

- gender: logistic regression on standardised features;
- age: a one-hidden-layer MLP regressor (years) on standardised features;
- ethnicity: multinomial logistic regression over UTKFace's five labels (white, black,
  asian, indian, others). UTKFace's race labels are coarse (five groups for the world) and
  noisy (annotated from the photo), so this judge's agreement is a rough figure: it says
  whether decoded faces keep the coarse appearance of the true ones, not anyone's ethnicity.

:func:`attribute_agreement` compares the judges' answers on faces decoded from voices with
their answers on the speakers' true faces, each beside chance and the majority rate.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speech2face import integrity
from speech2face.errors import UserError

JUDGES_FILE = Path(__file__).with_name("face_judges.h5")
# of JUDGES_FILE, checked at load (preprocess/fit_face_judges.py prints it)
JUDGES_SHA256 = "9731c37da1a0f492da62367ef8836b810c97fcd89b9d417a90bf00e7f55486f7"
FORMAT = 1
GENDERS = ("F", "M")
RACES = ("white", "black", "asian", "indian", "others")  # UTKFace's labels, in its order
AGE_EDGES = (20, 30, 40, 50, 60, 70)  # years: the age classes <20, 20-29, ..., 60-69, 70+
AGE_CLASSES = ("<20", "20-29", "30-39", "40-49", "50-59", "60-69", "70+")


def age_class(age: np.ndarray) -> np.ndarray:
    """(N,) years -> (N,) index into :data:`AGE_CLASSES` (10-year classes)."""
    return np.searchsorted(np.asarray(AGE_EDGES, np.float64), np.asarray(age), side="right")


@dataclass
class _Linear:
    """Standardise, then softmax / sigmoid of a linear map (a fitted LogisticRegression)."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (K, D); K == 1 for two classes
    intercept: np.ndarray  # (K,)
    classes: tuple

    def predict(self, x: np.ndarray) -> np.ndarray:
        z = ((x - self.mean) / self.scale) @ self.coef.T + self.intercept
        if z.shape[1] == 1:
            return np.asarray(self.classes, object)[(z[:, 0] > 0).astype(int)]
        return np.asarray(self.classes, object)[np.argmax(z, 1)]


@dataclass
class _MLP:
    """Standardise, ReLU hidden layers, a linear output (a fitted MLPRegressor)."""

    mean: np.ndarray
    scale: np.ndarray
    weights: list
    biases: list

    def predict(self, x: np.ndarray) -> np.ndarray:
        h = (x - self.mean) / self.scale
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w + b
            if i < len(self.weights) - 1:
                h = np.maximum(h, 0)
        return h[:, 0]


class FaceJudges:
    """Age (years), gender ("M"/"F") and ethnicity (:data:`RACES`) of faces from features.

    Load the shipped judges with :func:`load_judges`, fit new ones with :meth:`fit`.
    Inputs are (N, 128) float32 dlib face features (:class:`speech2face.faces.DlibEncoder`).
    """

    def __init__(self, gender: _Linear, race: _Linear, age: _MLP, info: dict):
        self.gender, self.race, self.age, self.info = gender, race, age, info

    @classmethod
    def fit(cls, features, age, gender, race, seed: int = 0, hidden: int = 256) -> FaceJudges:
        """Fit the three judges (scikit-learn) on labelled face features.

        Args:
            features: (N, D) float32. age: (N,) years. gender: (N,) "M"/"F". race: (N,)
                labels of :data:`RACES`.
        Raises:
            ValueError: fewer than two classes of gender or race.
        """
        from sklearn.linear_model import LogisticRegression
        from sklearn.neural_network import MLPRegressor

        x = np.asarray(features, np.float64)
        mean, scale = x.mean(0), x.std(0) + 1e-8
        z = (x - mean) / scale

        def linear(labels):
            labels = np.asarray(labels).astype(str)
            if len(set(labels)) < 2:
                raise ValueError("need at least two classes to fit a judge")
            model = LogisticRegression(max_iter=3000, C=1.0).fit(z, labels)
            return _Linear(mean, scale, model.coef_, model.intercept_, tuple(model.classes_))

        mlp = MLPRegressor(
            hidden_layer_sizes=(hidden,),
            alpha=1e-2,
            learning_rate_init=1e-3,
            max_iter=300,
            early_stopping=True,
            random_state=seed,
        ).fit(z, np.asarray(age, np.float64))
        age_model = _MLP(mean, scale, list(mlp.coefs_), list(mlp.intercepts_))
        return cls(linear(gender), linear(race), age_model, {"faces": int(len(x))})

    def predict(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """{"age": (N,) float years, "gender": (N,) "M"/"F", "race": (N,) str}."""
        x = np.asarray(features, np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.gender.mean):
            raise ValueError(f"judges take (N, {len(self.gender.mean)}) features, got {x.shape}")
        return {
            "age": self.age.predict(x),
            "gender": self.gender.predict(x),
            "race": self.race.predict(x),
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the judges as plain HDF5 arrays (no pickle; no time stamps, so the same
        judges give the same bytes)."""
        import json

        import h5py

        with h5py.File(path, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["info"] = json.dumps(self.info, sort_keys=True)
            for name in ("gender", "race"):
                m, g = getattr(self, name), f.create_group(name)
                for k in ("mean", "scale", "coef", "intercept"):
                    g.create_dataset(k, data=getattr(m, k), track_times=False)
                g.attrs["classes"] = json.dumps(list(m.classes))
            g = f.create_group("age")
            g.create_dataset("mean", data=self.age.mean, track_times=False)
            g.create_dataset("scale", data=self.age.scale, track_times=False)
            for i, (w, b) in enumerate(zip(self.age.weights, self.age.biases, strict=True)):
                g.create_dataset(f"w{i}", data=w, track_times=False)
                g.create_dataset(f"b{i}", data=b, track_times=False)


def load_judges(path: str | os.PathLike | None = None) -> FaceJudges:
    """The judges of ``path``, or the shipped ones (checked against their sha256).

    Raises:
        UserError: the file is missing, damaged or of an unknown format.
    """
    import json

    import h5py

    shipped = path is None
    path = Path(path or JUDGES_FILE)
    if shipped:
        integrity.check(
            path, {"sha256": JUDGES_SHA256}, "reinstall speech2face", what="face judges file"
        )
    if not path.is_file():
        raise UserError(f"{path}: no face judges file; fit one with preprocess/fit_face_judges.py")
    with integrity.reading(path, "fit it again with preprocess/fit_face_judges.py", "judges"):
        with h5py.File(path, "r") as f:
            if int(f.attrs.get("format", 0)) != FORMAT:
                raise UserError(
                    f"{path}: face judges of format {f.attrs.get('format')}, this release "
                    f"reads format {FORMAT}"
                )
            lin = {
                name: _Linear(
                    *(f[name][k][:] for k in ("mean", "scale", "coef", "intercept")),
                    tuple(json.loads(f[name].attrs["classes"])),
                )
                for name in ("gender", "race")
            }
            g = f["age"]
            layers = len([k for k in g if k.startswith("w")])
            age = _MLP(
                g["mean"][:],
                g["scale"][:],
                [g[f"w{i}"][:] for i in range(layers)],
                [g[f"b{i}"][:] for i in range(layers)],
            )
            info = json.loads(f.attrs["info"])
    return FaceJudges(lin["gender"], lin["race"], age, info)


def confusion(truth, answer, classes) -> list[list[int]]:
    """Counts [i][j] of truth ``classes[i]`` answered ``classes[j]``."""
    truth, answer = np.asarray(truth), np.asarray(answer)
    return [[int(np.sum((truth == a) & (answer == b))) for b in classes] for a in classes]


def _majority(labels) -> float:
    _, counts = np.unique(np.asarray(labels).astype(str), return_counts=True)
    return float(counts.max() / counts.sum())


def attribute_agreement(judges: FaceJudges, decoded: np.ndarray, true: np.ndarray) -> dict:
    """The judges' answers on decoded faces against their answers on the true faces.

    Args:
        decoded: (N, D) features of the faces decoded from voices (described by dlib).
        true: (N, D) features of the speakers' true faces.
    Returns:
        {"n", "gender": {"agreement", "chance", "majority", "confusion", "classes"},
        "age": {"mae_years", "mae_of_mean" (always answering the true faces' mean age),
        "class_agreement", "chance", "majority", "confusion", "classes"}, "race": like
        gender}. The truth is the judges' answer on the true face (as the paper's Face++
        on the true images), not a label of the person.
    """
    d, t = judges.predict(decoded), judges.predict(true)
    out = {"n": int(len(decoded))}
    for name, classes in (("gender", GENDERS), ("race", RACES)):
        out[name] = {
            "agreement": float(np.mean(d[name] == t[name])),
            "chance": 1 / len(classes),
            "majority": _majority(t[name]),
            "classes": list(classes),
            "confusion": confusion(t[name], d[name], classes),
        }
    dc, tc = age_class(d["age"]), age_class(t["age"])
    out["age"] = {
        "mae_years": float(np.mean(np.abs(d["age"] - t["age"]))),
        "mae_of_mean": float(np.mean(np.abs(t["age"].mean() - t["age"]))),
        "class_agreement": float(np.mean(dc == tc)),
        "chance": 1 / len(AGE_CLASSES),
        "majority": _majority(tc),
        "classes": list(AGE_CLASSES),
        "confusion": confusion(tc, dc, range(len(AGE_CLASSES))),
    }
    return out
