"""hydra-optuna-sweeper that resumes a killed study from its storage (rankexp's `hparams_search` configs).

The upstream sweeper reopens a study with `load_if_exists=True` but then (a) runs `n_trials`
more trials instead of the ones left, (b) numbers job dirs from 0 again, overwriting the first
trials' run dirs, and (c) leaves the trial that was running when the process died RUNNING for
ever. With `hydra.sweeper.storage=sqlite:///...` this subclass, before sweeping:

- puts a RUNNING trial back to WAITING, so the next `study.ask()` runs it again with its
  already-sampled parameters, under its own number (one sweeper per study is assumed: a trial
  RUNNING in another live process would be run twice);
- runs only `n_trials` minus the trials already finished (COMPLETE, FAIL, PRUNED);
- starts the job numbering at the first trial that still has to run, so trial k writes
  `<sweep dir>/k` as in an uninterrupted sweep (sequential trials, `n_jobs: 1`).

Hydra finds sweepers only under the `hydra_plugins` namespace, hence this package name.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

try:
    from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper
except ImportError:  # the `sweep` extra is not installed: no Optuna sweeper to extend
    OptunaSweeper = None


def resume_state(study: Any, n_trials: int) -> tuple[int, int]:
    """(trials left to run, first job number) for `study`, re-queueing its RUNNING trials."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    stale = [t for t in trials if t.state == TrialState.RUNNING]
    for trial in stale:
        study._storage.set_trial_state(trial._trial_id, TrialState.WAITING)
    finished = sum(t.state.is_finished() for t in trials)
    first = min([t.number for t in stale], default=len(trials))
    if trials:
        log.info("resuming study %s: %d trials finished, %d re-queued, %d to run (job dirs from %d)",
                 study.study_name, finished, len(stale), max(0, n_trials - finished), first)
    return max(0, n_trials - finished), first


if OptunaSweeper is not None:

    class ResumableOptunaSweeper(OptunaSweeper):
        """OptunaSweeper + resume from persistent storage (see the module docstring)."""

        def sweep(self, arguments: list[str]) -> None:
            impl = self.sweeper
            if impl.storage:
                import optuna

                study = optuna.create_study(study_name=impl.study_name, storage=impl.storage,
                                            directions=impl._get_directions(), load_if_exists=True)
                impl.n_trials, impl.job_idx = resume_state(study, impl.n_trials)
                if impl.n_trials == 0:
                    log.info("study %s already has every trial: nothing to run", study.study_name)
            return impl.sweep(arguments)
