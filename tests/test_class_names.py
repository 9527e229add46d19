"""Sentences that name a class take the right article ("an Ankle boot", "a Shirt")."""

from __future__ import annotations

import pytest

from softmax_core.classes import FASHION_MNIST_CLASSES, indefinite_article
from softmax_core.training import TrainConfig
from tests.apptest_helpers import open_inside_page, texts
from tests.factories_training import inside_parameters, store_inside_run

pytestmark = pytest.mark.app


def test_each_class_name_gets_its_article():
    assert {name: indefinite_article(name) for name in FASHION_MNIST_CLASSES} == {
        "T-shirt/top": "a",
        "Trouser": "a",
        "Pullover": "a",
        "Dress": "a",
        "Coat": "a",
        "Sandal": "a",
        "Shirt": "a",
        "Sneaker": "a",
        "Bag": "a",
        "Ankle boot": "an",
    }


def test_the_inside_page_says_an_ankle_boot(env, fmnist):
    assert int(fmnist.test_labels[0]) == 9  # test image #0, the page's first, is an Ankle boot
    store_inside_run(env, fmnist, TrainConfig(epochs=1), *inside_parameters(0, 1))
    at = open_inside_page().run()
    assert not at.exception
    shown = texts(at.markdown)
    assert "Test image #0 is an **Ankle boot**;" in shown and "is a **Ankle boot**" not in shown
