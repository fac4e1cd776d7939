"""Where mvlib finds its own files (mvlib.core.resources): here, from the checkout.

The installed case (profiles inside the wheel, no checkout, no book) is tests/test_install.py.
"""

from pathlib import Path

from mvlib.core import config, resources

ROOT = Path(__file__).resolve().parents[2]


def test_in_a_checkout_the_profiles_and_the_book_are_the_checkouts():
    assert resources.checkout_root() == ROOT
    assert resources.params_dir() == ROOT / "params" == config.PARAMS_DIR
    assert resources.book_dir() == ROOT / "book"
    assert (resources.book_dir() / "03_train.ipynb").is_file()


def test_a_folder_with_another_projects_pyproject_is_not_a_checkout(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\n')
    monkeypatch.setattr(resources, "_PACKAGE", tmp_path / "mvlib")
    assert resources.checkout_root() is None
    assert resources.book_dir() is None
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "mvlib"\n')
    assert resources.checkout_root() == tmp_path
