"""The Inside-the-model page in AppTest: picking the run, the epoch slider, the explanation, the comparison, errors."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from softmax_core.logit_presets import parse_logits
from softmax_core.training import TrainConfig
from tests.apptest_helpers import open_inside_page, plotly_values, texts
from tests.factories_training import INSIDE_EPOCHS as EPOCHS
from tests.factories_training import inside_parameters, store_inside_run

pytestmark = pytest.mark.app


def chart_by_title_key(at: AppTest, key: str) -> dict:
    for element in at.get("plotly_chart"):
        if key in element.proto.id:
            return json.loads(element.proto.spec)
    raise AssertionError(f"no chart {key}: {[e.proto.id for e in at.get('plotly_chart')]}")


def test_empty_store_says_so_and_links_to_training(env):
    at = open_inside_page().run()
    assert not at.exception
    assert "There is no trained model yet" in texts(at.info)
    assert any("training" in link.proto.page for link in at.get("page_link"))


def test_training_settings_without_a_stored_run_say_so(env, fmnist):
    store_inside_run(env, fmnist, TrainConfig(epochs=1), *inside_parameters(0, 1))  # another run exists, not this one
    at = open_inside_page(session={"train_epochs": 10}).run()
    assert not at.exception
    assert "There is no stored run for the training page's settings" in texts(at.info)
    assert "scratch · lr 0.1 · batch 256 · 10 ep · seed 0" in texts(at.info)
    assert any("training" in link.proto.page for link in at.get("page_link"))


def test_without_settings_or_link_the_newest_run_shows(env, fmnist):
    store_inside_run(env, fmnist, TrainConfig(epochs=1), *inside_parameters(0, 1))
    newest = store_inside_run(env, fmnist, TrainConfig(epochs=2), *inside_parameters(1, 2))
    at = open_inside_page().run()
    assert not at.exception
    assert at.query_params["run"] == newest.key


def test_unknown_run_in_the_link_is_shown_as_text(env):
    at = open_inside_page({"run": "**nope**<b>x</b>"}).run()
    assert not at.exception
    assert "not in the run store" in texts(at.warning)
    assert at.text[0].value == "**nope**<b>x</b>"  # verbatim, never rendered


def test_training_page_settings_pick_the_run_and_the_link_names_it(env, fmnist):
    config = TrainConfig(epochs=2, batch_size=1024, lr=0.2)
    weights, biases = inside_parameters(0, 2)
    run = store_inside_run(env, fmnist, config, weights, biases)
    at = open_inside_page(session={"train_epochs": 2, "train_batch_size": 1024, "train_lr": 0.2}).run()
    assert not at.exception
    assert at.query_params["run"] == run.key
    assert "lr 0.2 · batch 1024 · 2 ep" in texts(at.caption)


def test_old_run_without_snapshots_shows_final_weights_and_says_why_no_slider(env, fmnist):
    weights, biases = inside_parameters(1)
    run = store_inside_run(env, fmnist, TrainConfig(epochs=EPOCHS), weights, biases)
    at = open_inside_page({"run": run.key}).run()
    assert not at.exception
    assert "kept only the final weights" in texts(at.info) and "no epoch slider" in texts(at.info)
    assert len(at.slider) == 0
    z = chart_by_title_key(at, "in_templates")["data"][4]["z"]
    np.testing.assert_allclose(plotly_values(z).reshape(784), weights[-1][:, 4].numpy(), atol=1e-5)


def test_epoch_slider_shows_each_epochs_weights(env, fmnist):
    weights, biases = inside_parameters(2)
    run = store_inside_run(env, fmnist, TrainConfig(epochs=EPOCHS), weights, biases, snapshots=True)
    at = open_inside_page({"run": run.key}).run()
    assert not at.exception
    slider = at.slider(key="in_epoch")
    assert (slider.min, slider.max, slider.value) == (0, EPOCHS, EPOCHS)
    for epoch in (0, 1):
        slider.set_value(epoch).run()
        assert not at.exception
        spec = chart_by_title_key(at, "in_templates")
        np.testing.assert_allclose(
            plotly_values(spec["data"][7]["z"]).reshape(784), weights[epoch][:, 7].numpy(), atol=1e-5
        )
        limit = float(weights.abs().max())  # one scale over all epochs
        assert spec["layout"]["coloraxis"]["cmax"] == pytest.approx(limit)
        assert spec["layout"]["coloraxis"]["cmid"] == 0
    at.toggle(key="in_rescale").set_value(True).run()
    limit = float(weights[1].abs().max())
    assert chart_by_title_key(at, "in_templates")["layout"]["coloraxis"]["cmax"] == pytest.approx(limit)


def test_explanation_scores_are_x_w_plus_b_and_the_link_carries_them(env, fmnist):
    weights, biases = inside_parameters(3)
    run = store_inside_run(env, fmnist, TrainConfig(epochs=EPOCHS), weights, biases, snapshots=True)
    at = open_inside_page({"run": run.key, "in_epoch": "2", "in_image": "17"}).run()
    assert not at.exception
    assert at.number_input(key="in_image").value == 17 and at.slider(key="in_epoch").value == 2
    x = fmnist.test_images[17].reshape(784).double() / 255
    expected = (x @ weights[2].double() + biases[2].double()).numpy()
    shown = chart_by_title_key(at, "in_scores")["data"][0]["x"]
    np.testing.assert_allclose(shown, expected, rtol=0, atol=1e-9)
    probs = torch.softmax(torch.from_numpy(expected), 0).numpy()
    np.testing.assert_allclose(chart_by_title_key(at, "in_probs")["data"][0]["x"], probs, atol=1e-9)
    link = next(p.proto for p in at.get("page_link") if "softmax" in p.proto.page)
    query = {k: v[0] for k, v in parse_qs(link.query_string, strict_parsing=True).items()}
    assert parse_logits(query["sm_logits"]) == tuple(shown)  # exactly the ten scores on screen, bit for bit
    assert query["sm_labels"] == "fashion" and query["sm_preset"] == "custom"
    markdown = texts(at.markdown)
    assert f"Test image #17 is a **{fmnist.class_names[int(fmnist.test_labels[17])]}**" in markdown
    predicted = int(np.argmax(shown))
    sums = at.text[0].value.splitlines()  # the bookkeeping under the contribution maps
    assert sums[0].startswith(f"{fmnist.class_names[predicted]} (")
    assert sums[0].endswith(f"= o = {shown[predicted]:+.4f}")


def test_random_mistake_picks_a_misclassified_image(env, fmnist):
    weights, biases = inside_parameters(4)
    run = store_inside_run(env, fmnist, TrainConfig(epochs=EPOCHS), weights, biases, snapshots=True)
    at = open_inside_page({"run": run.key}).run()
    predicted = (fmnist.test_images.reshape(-1, 784).float() / 255 @ weights[-1] + biases[-1]).argmax(1)
    for _ in range(3):
        at.button(key="in_random_mistake").click().run()
        i = int(at.number_input(key="in_image").value)  # a float input showing whole numbers
        assert predicted[i] != fmnist.test_labels[i]
        assert "a mistake" in texts(at.markdown)


def test_a_damaged_snapshot_file_is_a_sentence(env, fmnist):
    weights, biases = inside_parameters(6)
    run = store_inside_run(env, fmnist, TrainConfig(epochs=EPOCHS), weights, biases, snapshots=True)
    path = run.path / run.snapshots.name
    raw = bytearray(path.read_bytes())
    raw[-30] ^= 0xFF  # same size, other bytes: the store's checksum notices
    path.write_bytes(bytes(raw))
    at = open_inside_page({"run": run.key}).run()
    assert not at.exception
    shown = re.sub(r"\\(.)", r"\1", texts(at.error))  # shown as text: markdown's escapes removed
    assert "is damaged (checksum differs)" in shown and run.key in shown
    assert len(at.slider) == 0 and not at.get("plotly_chart")


def test_scratch_and_concise_side_by_side_with_the_largest_difference(env, fmnist):
    weights, biases = inside_parameters(5)
    other = weights.clone()
    other[-1][100, 2] += 1e-3
    run = store_inside_run(env, fmnist, TrainConfig(epochs=EPOCHS), weights, biases)
    store_inside_run(env, fmnist, TrainConfig(impl="concise", epochs=EPOCHS), other, biases)
    at = open_inside_page({"run": run.key}).run()
    assert not at.exception
    text = texts(at.markdown)
    assert f"largest difference over all 7,850 parameters is **{1e-3:.2e}**" in text
    assert "(row 3, col 16) for Pullover" in text  # pixel 100 = row 3, col 16; class 2
    left, right = chart_by_title_key(at, "in_compare_this"), chart_by_title_key(at, "in_compare_other")
    assert left["layout"]["coloraxis"]["cmax"] == right["layout"]["coloraxis"]["cmax"]


def test_missing_data_folder_is_a_sentence(missing_data):
    at = open_inside_page().run()
    assert not at.exception
    assert str(missing_data) in texts(at.error) and "SOFTMAX_DATA_DIR" in texts(at.error)


def test_only_the_weight_pictures_keep_a_toolbar_to_save_them(env, fmnist):
    store_inside_run(env, fmnist, TrainConfig(epochs=1), *inside_parameters(0, 1))
    at = open_inside_page().run()
    assert not at.exception
    toolbars = {
        e.proto.id.split("-")[-1]: json.loads(e.proto.config).get("displayModeBar") for e in at.get("plotly_chart")
    }
    templates = [bar for key, bar in toolbars.items() if "in_templates" in key]
    others = [bar for key, bar in toolbars.items() if "in_templates" not in key]
    assert templates == ["hover"], toolbars
    assert others and all(bar is False for bar in others), toolbars
    assert "download as PNG from the camera icon" in texts(at.caption)


def test_every_chart_has_a_text_alternative_written_from_its_data(env, fmnist):
    """The chapter's setting stored by scratch and concise: the templates, both compared, the explanation's four."""
    weights, biases = inside_parameters(7, 10)
    run = store_inside_run(env, fmnist, TrainConfig(), weights, biases, snapshots=True)
    store_inside_run(env, fmnist, TrainConfig(impl="concise"), weights, biases, snapshots=True)
    at = open_inside_page({"run": run.key, "in_image": "17"}).run()
    assert not at.exception
    alts = {e.proto.id.split("-")[-1]: e.proto.alt for e in at.get("plotly_chart")}
    assert len(alts) == 7 and all(alts.values()), alts
    names = fmnist.class_names
    label = names[int(fmnist.test_labels[17])]
    x = fmnist.test_images[17].reshape(784).double() / 255
    probs = torch.softmax(x @ weights[-1].double() + biases[-1].double(), 0)
    top = int(probs.argmax())

    def alt(key: str) -> str:
        return next(text for chart, text in alts.items() if key in chart)

    assert alt("in_templates").startswith("W after 10 epoch(s): 10 weight pictures")
    assert f"{names[top]} {float(probs[top]):.1%}" in alt("in_probs")
    assert alt("in_image_fig").startswith(f"Test image #17, {label}")
    assert "The numbers behind the pictures" in [e.label for e in at.expander]


@pytest.mark.parametrize("present", [False, True])
def test_a_run_without_a_twin_names_the_missing_comparison_except_on_the_projector(env, fmnist, present):
    """Presenter mode has no captions: the section's heading must not stand alone over empty space."""
    run = store_inside_run(env, fmnist, TrainConfig(epochs=EPOCHS), *inside_parameters(0), snapshots=True)
    at = open_inside_page({"run": run.key, **({"present": "1"} if present else {})}).run()
    assert not at.exception
    headings = [h.value for h in at.subheader]
    assert ("Scratch against concise" in headings) is not present
    assert any("Train the concise implementation" in c.value for c in at.caption) is not present
