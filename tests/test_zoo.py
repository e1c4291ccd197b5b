"""Model files: msgpack weights + JSON ModelSpec with a verified SHA-256; PredictFn."""

from __future__ import annotations

import hashlib
import json

import jax
import numpy as np
import pytest

from xharm import zoo
from xharm.exceptions import CorruptProductError, DimensionError, ProductNotFoundError
from xharm.models.mgan import Generator, MGANConfig
from xharm.spec import ModelSpec, NormStats, PredictFn
from xharm.zoo.registry import spec_digest

CFG = MGANConfig.tiny()
S = CFG.input_shapes()


@pytest.fixture(scope="module")
def params():
    x10, x20 = np.zeros((1, *S["s2_10m"]), np.float32), np.zeros((1, *S["s2_20m"]), np.float32)
    return Generator(CFG).init(jax.random.key(5, impl="rbg"), x10, x20)["params"]


def inputs(n: int = 3):
    rng = np.random.default_rng(1)
    return {g: rng.normal(size=(n, *S[g])).astype(np.float32) for g in ("s2_10m", "s2_20m")}


def test_save_load_predict(tmp_path, params):
    norm = {"l8": NormStats(("B2", "B3", "B4", "B5", "B6", "B7"), (0,) * 6, (1,) * 6, (0.1,) * 6, (0.5,) * 6)}
    spec = zoo.save_model(tmp_path / "m", params, CFG, norm=norm, meta={"training_data": "synthetic"})
    raw = (tmp_path / "m" / "weights.msgpack").read_bytes()
    assert spec.checksum == "sha256:" + hashlib.sha256(raw).hexdigest()
    on_disk = json.loads((tmp_path / "m" / "spec.json").read_text())
    assert ModelSpec.from_dict(on_disk) == spec
    assert [g.patch for g in spec.groups] == [96, 48, 32] and spec.buffer == 0.25
    loaded, predict = zoo.load(tmp_path / "m")
    assert loaded == spec and isinstance(predict, PredictFn)
    assert dict(loaded.meta)["training_data"] == "synthetic"
    b = inputs()
    expected = Generator(CFG).apply({"params": params}, b["s2_10m"], b["s2_20m"])
    out = predict(b)
    assert out.dtype == np.float32 and out.shape == (3, 32, 32, 6)
    np.testing.assert_allclose(out, np.asarray(expected), atol=1e-6)


def test_half_precision_weights(tmp_path, params):
    full = zoo.save_model(tmp_path / "f32", params, CFG)
    half = zoo.save_model(tmp_path / "f16", params, CFG, dtype="float16")
    size = {k: (tmp_path / k / "weights.msgpack").stat().st_size for k in ("f32", "f16")}
    assert size["f16"] < 0.6 * size["f32"]
    assert dict(half.meta)["weights_dtype"] == "float16" and dict(full.meta)["weights_dtype"] == "float32"
    # re-saving with the old spec's meta passed through: the new dtype and config are recorded
    again = zoo.save_model(
        tmp_path / "again", params, CFG, meta=dict(half.meta) | {"note": "kept"}, dtype="float32"
    )
    assert dict(again.meta)["weights_dtype"] == "float32" and dict(again.meta)["note"] == "kept"
    assert dict(again.meta)["mgan_config"] == dict(full.meta)["mgan_config"]
    _, p32 = zoo.load(tmp_path / "f32")
    _, p16 = zoo.load(tmp_path / "f16")
    b = inputs()
    out16 = p16(b)
    assert out16.dtype == np.float32
    # float16 keeps ~3 significant digits of each weight: outputs move by far less than 1 %
    np.testing.assert_allclose(out16, p32(b), atol=5e-3)
    assert not np.array_equal(out16, p32(b))
    with pytest.raises(ValueError, match="unsupported weights dtype"):
        zoo.save_model(tmp_path / "bad", params, CFG, dtype="int8")


def test_checksum_and_missing_files(tmp_path, params):
    zoo.save_model(tmp_path / "m", params, CFG)
    w = tmp_path / "m" / "weights.msgpack"
    data = bytearray(w.read_bytes())
    data[-1] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(CorruptProductError, match="checksum"):
        zoo.load(tmp_path / "m")
    w.unlink()
    with pytest.raises(ProductNotFoundError):
        zoo.load_model(tmp_path / "m")
    with pytest.raises(ProductNotFoundError, match="no model called"):
        zoo.load("no-such-model")


def test_weights_must_fit_the_config(tmp_path, params):
    spec = zoo.save_model(tmp_path / "m", params, CFG)
    meta = dict(spec.meta)
    meta["mgan_config"] = json.dumps(
        MGANConfig.tiny().__class__(**{**CFG.to_dict(), "features": 4}).to_dict()
    )
    text = json.loads((tmp_path / "m" / "spec.json").read_text())
    text["meta"] = [[k, v] for k, v in sorted(meta.items())]
    text["spec_checksum"] = spec_digest(text)  # a consistent spec whose config does not fit the weights
    (tmp_path / "m" / "spec.json").write_text(json.dumps(text))
    with pytest.raises(CorruptProductError, match="do not fit"):
        zoo.load(tmp_path / "m")


def test_predict_checks_inputs_and_mc_dropout(tmp_path, params):
    zoo.save_model(tmp_path / "m", params, CFG)
    _, predict = zoo.load(tmp_path / "m", mc_dropout=True, seed=3)
    b = inputs(2)
    a1, a2 = predict(b), predict(b)
    assert not np.allclose(a1, a2)  # new masks per call
    k = jax.random.key(9)
    np.testing.assert_array_equal(predict(b, key=k), predict(b, key=k))
    with pytest.raises(DimensionError, match="s2_20m"):
        predict({"s2_10m": b["s2_10m"]})
    with pytest.raises(DimensionError, match="wrong shape"):
        predict({"s2_10m": b["s2_10m"][:, :90], "s2_20m": b["s2_20m"]})


def test_handle_is_hashable_and_loads(tmp_path, params):
    from dask.base import tokenize

    zoo.save_model(tmp_path / "m", params, CFG)
    h = zoo.ZooHandle.of(tmp_path / "m")
    assert h == zoo.ZooHandle.of(tmp_path / "m") and hash(h) == hash(zoo.ZooHandle.of(tmp_path / "m"))
    assert tokenize(h) == tokenize(zoo.ZooHandle.of(tmp_path / "m"))
    assert h.load()(inputs(1)).shape == (1, 32, 32, 6)
    assert zoo.resolve(tmp_path / "m" / "spec.json") == tmp_path / "m"
    assert isinstance(zoo.available(), list)


# --------------------------------------------------------------------------- spec integrity (issue 19)


def test_edited_spec_is_refused(tmp_path, params):
    zoo.save_model(tmp_path / "m", params, CFG)
    path = tmp_path / "m" / "spec.json"
    d = json.loads(path.read_text())
    d["inputs"][0]["bands"] = list(reversed(d["inputs"][0]["bands"]))  # hand-edited band order
    path.write_text(json.dumps(d, indent=1))
    for load in (zoo.load, zoo.ZooHandle.of, zoo.read_spec):
        with pytest.raises(CorruptProductError, match="changed after the model was saved"):
            load(tmp_path / "m")


def test_reindented_spec_still_loads(tmp_path, params):
    zoo.save_model(tmp_path / "m", params, CFG)
    path = tmp_path / "m" / "spec.json"
    path.write_text(json.dumps(json.loads(path.read_text())))  # whitespace only
    assert zoo.read_spec(tmp_path / "m").checksum.startswith("sha256:")


@pytest.mark.parametrize("text", ["{not json", "", "[1, 2]", '{"name": "mgan"}'])
def test_broken_spec_is_a_corrupt_product(tmp_path, params, text):
    zoo.save_model(tmp_path / "m", params, CFG)
    (tmp_path / "m" / "spec.json").write_text(text)
    for load in (zoo.load, zoo.ZooHandle.of):  # ZooHandle.of is what to_landsat and harmonize call
        with pytest.raises(CorruptProductError):
            load(tmp_path / "m")


def test_unsigned_user_spec_loads_with_a_warning(tmp_path, params):
    zoo.save_model(tmp_path / "m", params, CFG)
    path = tmp_path / "m" / "spec.json"
    d = json.loads(path.read_text())
    del d["spec_checksum"]
    path.write_text(json.dumps(d))
    with pytest.warns(UserWarning, match="no spec_checksum"):
        zoo.read_spec(tmp_path / "m")


def test_bundled_model_spec_is_signed_and_weights_unchanged():
    folder = zoo.resolve(zoo.DEFAULT_MODEL)
    d = json.loads((folder / "spec.json").read_text())
    assert d["spec_checksum"] == spec_digest(d)
    spec = zoo.read_spec(folder)
    assert spec.checksum == zoo.sha256_file(folder / "weights.msgpack")
    assert spec.checksum == "sha256:53ad6c3af7990bea45bff96596c21fbb49bd9fd8427f6fc485d44ac8352e6550"
