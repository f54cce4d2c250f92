"""`hf-pricer embed`: caption files and images → the embedding aligner's .npz files."""

import logging

from PIL import Image

from hf_pricer import load_alignment_npz
from hf_pricer.commands import embed as embed_command


def write_caption_folder(tmp_path):
    images_dir = tmp_path / "images"
    images_dir.mkdir()
    for i in range(4):
        Image.new("RGB", (40, 40), (60 * i, 255 - 60 * i, 90)).save(images_dir / f"ok{i}.png")
    (images_dir / "broken.jpg").write_bytes(b"\x00" * 20)
    rows = ["image,caption"]
    rows += [f"ok{i}.png,photo {i} version {v}" for i in range(4) for v in range(2)]
    rows += ["broken.jpg,a broken photo", "missing.jpg,a missing photo", 'ok0.png," "']
    (tmp_path / "captions.txt").write_text("\n".join(rows) + "\n")
    return images_dir


def test_caption_files_to_npz_with_a_held_out_split(tmp_path, caplog):
    images_dir = write_caption_folder(tmp_path)
    with caplog.at_level(logging.INFO):
        written = embed_command.main(["--captions", str(tmp_path / "captions.txt"), "--images_dir", str(images_dir),
                                      "--output_dir", str(tmp_path / "out"), "--test_size", "1"])
    assert "captions: kept 8 rows, skipped 3 (2 image unusable, 1 empty caption)" in caplog.text
    assert "images: loaded 4, unusable 2" in caplog.text
    train = load_alignment_npz(written["train"], require_images=True)
    test = load_alignment_npz(written["test"], require_images=True)
    clean = load_alignment_npz(written["test_clean"])
    assert (len(train.image_embeds), len(test.image_embeds), len(train), len(test)) == (3, 1, 6, 2)
    assert set(train.image_names).isdisjoint(test.image_names)
    assert not clean.has_images and clean.ids.tolist() == test.ids.tolist()
    for part in (train, test):  # every caption sits with its own image
        for text, name in zip(part.caption_text, part.image_names[part.image_index]):
            assert text.startswith(f"photo {name[2]} ")
    assert train.caption_embeds.shape[1] == 384 and train.image_embeds.shape[1] == 1280
