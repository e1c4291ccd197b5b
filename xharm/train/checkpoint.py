"""Orbax checkpoints of the training state, every N steps and at the end.

The state is saved as its Flax state dict (nested dicts of arrays) with Orbax's
standard handler; Orbax writes to a temporary folder and renames it when complete,
so a run killed mid-save leaves the previous checkpoints intact and
:meth:`Checkpointer.latest_step` never points at a partial one.
"""

from __future__ import annotations

from pathlib import Path

import flax.serialization
import jax
import numpy as np
import orbax.checkpoint as ocp

from .state import GANState

__all__ = ["Checkpointer"]


class Checkpointer:
    """Save and restore :class:`~xharm.train.state.GANState` under ``directory``.

    Parameters
    ----------
    directory
        Folder of the checkpoints (one sub-folder per saved step).
    every
        Save when ``step % every == 0`` (``save(..., force=True)`` saves regardless).
    keep
        Number of most recent checkpoints kept.

    Examples
    --------
    >>> import tempfile
    >>> from xharm.train.config import TrainConfig
    >>> from xharm.train.state import create_state
    >>> st = create_state(TrainConfig.preset("tiny"))
    >>> with Checkpointer(tempfile.mkdtemp(), every=1) as ck:
    ...     saved = ck.save(0, st, force=True)
    ...     saved, int(ck.restore(st).step), ck.latest_step()
    (True, 0, 0)
    """

    def __init__(self, directory: str | Path, every: int = 500, keep: int = 2) -> None:
        self.directory = Path(directory).absolute()
        self.every = every
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, save_interval_steps=every, create=True, enable_async_checkpointing=False
        )
        self._mgr = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        """Step of the newest complete checkpoint, or None."""
        return self._mgr.latest_step()

    def steps(self) -> list[int]:
        """Steps of every checkpoint kept on disk, oldest first."""
        return sorted(self._mgr.all_steps())

    def save(self, step: int, state: GANState, force: bool = False) -> bool:
        """Save ``state`` as step ``step`` when due (or ``force``); returns whether it saved."""
        if not force and step % self.every:
            return False
        if step in self.steps():
            return False
        tree = jax.tree_util.tree_map(np.asarray, flax.serialization.to_state_dict(state))
        return bool(self._mgr.save(step, args=ocp.args.StandardSave(tree), force=True))

    def restore(self, target: GANState, step: int | None = None) -> GANState:
        """Restore step ``step`` (default: the latest) into the structure of ``target``."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        abstract = jax.tree_util.tree_map(
            lambda x: np.zeros(np.shape(x), np.asarray(x).dtype), flax.serialization.to_state_dict(target)
        )
        tree = self._mgr.restore(step, args=ocp.args.StandardRestore(abstract))
        return flax.serialization.from_state_dict(target, tree)

    def close(self) -> None:
        """Wait for pending writes and release the manager."""
        self._mgr.wait_until_finished()
        self._mgr.close()

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
