"""`recipes/train_residual.py`, for the kill-and-resume test: `python -m tests.reliability.train_until_killed ARGS`.

With `HANG_AT_SAVE=N` in the environment, the save of checkpoint N stops halfway (the weights are written, the
optimizer is not), touches the file `HANG_MARKER` and waits there to be killed.
"""

import os
import sys
import time

from hf_pricer import PricerTrainer
from tests.utils import RECIPES_DIR


def hang_in_save(step: int, marker: str) -> None:
    save_optimizer = PricerTrainer._save_optimizer_and_scheduler

    def save_then_hang(self, output_dir):
        if self.state.global_step == step:
            open(marker, "w").close()
            time.sleep(600)
        save_optimizer(self, output_dir)

    PricerTrainer._save_optimizer_and_scheduler = save_then_hang


if __name__ == "__main__":
    if "HANG_AT_SAVE" in os.environ:
        hang_in_save(int(os.environ["HANG_AT_SAVE"]), os.environ["HANG_MARKER"])
    sys.path.insert(0, RECIPES_DIR)
    import train_residual

    train_residual.main(sys.argv[1:])
