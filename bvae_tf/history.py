"""Reading a run's history.csv, whichever bvae_tf wrote it (pandas only: the report reads it too)."""

import pandas as pd


def read_history(path):
    """history.csv as a DataFrame whose ``epoch`` column is 1-based, as the console counts.

    Files written before bvae_tf counted from 1 hold Keras' 0-based epochs; a run's first row is
    its first epoch, so a first row of 0 marks such a file and its epochs are shifted here.
    """
    history = pd.read_csv(path)
    if zero_based(history):
        history["epoch"] += 1
    return history


def zero_based(history):
    """Whether a history table counts epochs from 0 (written before bvae_tf counted from 1)."""
    return bool(len(history)) and "epoch" in history and history["epoch"].iloc[0] == 0
