"""``marlzoo eval --render``: the greedy episodes eval plays, drawn by the real envs, as a GIF or MP4.

Each test trains a tiny real run through the CLI, renders it, and reads the file back: an animation
of the expected length whose frames change, and the very episodes (the same returns, the same seeds)
that ``marlzoo eval`` plays without drawing.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from mpe2 import simple_spread_v3

from marlzoo.cli import main
from marlzoo.training.animation import animation_writer
from tests.conftest import FAST, assert_one_line_error, run_cli

Image = pytest.importorskip("PIL.Image")
from PIL import ImageSequence  # noqa: E402

EVAL_SEED = 12345  # marlzoo eval's default --seed: copy i's first episode is reset with EVAL_SEED + i
_BATCH = FAST.index("algo.batch_size=2")
FAST_ANY_ALGO = FAST[:_BATCH - 1] + FAST[_BATCH + 1:]  # without the replay batch size, which MAPPO has not


def train(root: Path, run_id: str, algo: str, env: str, *sets: str, steps: int = 300) -> Path:
    """A finished run of ``algo`` on ``env`` for ``steps`` env steps, trained through the CLI."""
    code = main(["run", "--algo", algo, "--env", env, "--steps", str(steps), *FAST_ANY_ALGO,
                 *[x for s in sets for x in ("--set", s)], "--run-dir", str(root), "--run-id", run_id])
    assert code == 0
    return root / run_id


def eval_json(cli, run: Path, *args: str) -> dict:
    result = cli("eval", "--run", str(run), "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])  # after what an earlier train() printed


def gif_frames(path: Path) -> tuple[list[np.ndarray], list[int]]:
    """The GIF's stored frames as RGB arrays, and how long each is shown (ms)."""
    with Image.open(path) as im:
        assert im.format == "GIF" and im.is_animated and im.info.get("loop") == 0
        pairs = [(np.asarray(f.convert("RGB")), f.info["duration"]) for f in ImageSequence.Iterator(im)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def spread_first_frame(seed: int) -> np.ndarray:
    """What simple_spread (configs/envs/simple_spread.yaml) draws right after ``reset(seed)``."""
    env = simple_spread_v3.parallel_env(N=3, local_ratio=0.5, max_cycles=25, render_mode="rgb_array")
    env.reset(seed=seed)
    frame = env.render().astype(int)
    env.close()
    return frame


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def spread(runs) -> Path:
    """A tiny finished QMIX run on simple_spread (25-step episodes, so 26 frames each)."""
    return train(runs, "qmix-spread", "qmix", "simple_spread", "algo.batch_size=2")


def test_gif_of_simple_spread_holds_the_episodes_eval_plays(spread, tmp_path, cli):
    # 3 episodes on the run's 2 env copies: two rounds, as eval plays them (the 4th episode is dropped).
    out = tmp_path / "watch" / "spread.gif"  # its folder is made
    result = run_cli("eval", "--run", str(spread), "--render", str(out), "--episodes", "3", "--json")
    assert result.returncode == 0, result.stderr
    rendered = json.loads(result.stdout)
    assert rendered["render"] == {"path": str(out), "frames": 3 * 26, "fps": 10.0}
    plain = eval_json(cli, spread, "--episodes", "3")
    assert (rendered["return_mean"], rendered["return_std"]) == (plain["return_mean"], plain["return_std"]), \
        "drawing must not change what the greedy policy does"

    frames, durations = gif_frames(out)
    assert frames[0].shape == (700, 700, 3)
    assert sum(durations) == 78 * 100, "every frame is shown 1/10 s (mpe2's render_fps), merged ones included"
    # Pillow merges a frame into the one before only when they are identical; 75 of 78 were kept here.
    assert len(frames) >= 60, "the frames change from step to step"
    starts = [frames[int(np.searchsorted(np.cumsum(durations), k * 26 * 100, side="right"))] for k in range(3)]
    # Episodes 1 and 2 are copies 0 and 1 reset with the eval's seeds; episode 3 is copy 0's second.
    first, second = spread_first_frame(EVAL_SEED), spread_first_frame(EVAL_SEED + 1)
    assert np.abs(starts[0] - first).max() <= 2 and np.abs(starts[0] - second).max() > 100
    assert np.abs(starts[1] - second).max() <= 2 and np.abs(starts[1] - first).max() > 100
    assert min(np.abs(starts[2] - f).max() for f in (first, second)) > 100
    assert np.abs(frames[-1].astype(int) - starts[2]).mean() > 1, "the agents moved"
    assert not list(out.parent.glob(".*")), "no temporary file is left behind"


def test_mp4_of_simple_spread_has_a_frame_per_step(spread, tmp_path, cli):
    ffmpeg = pytest.importorskip("imageio_ffmpeg")
    out = tmp_path / "spread.mp4"
    result = cli("eval", "--run", str(spread), "--render", str(out), "--episodes", "2")
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}: 52 frames of 2 episodes at 10 fps" in result.stdout
    reader = ffmpeg.read_frames(str(out))
    meta = next(reader)
    assert meta["codec"] == "h264" and meta["size"] == (700, 700) and meta["fps"] == 10.0
    frames = [np.frombuffer(f, np.uint8).reshape(700, 700, 3).astype(int) for f in reader]
    assert len(frames) == 52
    moving = sum(np.abs(a - b).mean() > 0.1 for a, b in itertools.pairwise(frames))
    assert moving >= 40, f"only {moving} of 51 steps changed the picture"
    own, other = (np.abs(frames[0] - spread_first_frame(s)).mean() for s in (EVAL_SEED, EVAL_SEED + 1))
    assert own < 0.5 * other, (own, other)


def test_mp4_without_its_encoder_names_the_extra(spread, tmp_path, cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # import imageio_ffmpeg now fails, as if not installed
    out = tmp_path / "spread.mp4"
    assert_one_line_error(cli("eval", "--run", str(spread), "--render", str(out)), "imageio-ffmpeg",
                          "pip install 'marlzoo[render]'")
    assert not out.exists()


def test_a_suffix_other_than_gif_or_mp4_is_refused_before_anything_runs(tmp_path, cli):
    out = tmp_path / "spread.png"
    # The run directory does not exist: the file name is checked first.
    assert_one_line_error(cli("eval", "--run", str(tmp_path / "nope"), "--render", str(out)), "'spread.png'",
                          ".gif or .mp4")
    assert not out.exists()


def test_an_env_without_rgb_array_is_refused_and_leaves_an_earlier_file(runs, tmp_path, cli):
    game = train(runs, "vdn-nonmonotonic", "vdn", "nonmonotonic", "algo.batch_size=2", steps=50)
    out = tmp_path / "game.gif"
    out.write_bytes(b"an earlier file")
    assert_one_line_error(cli("eval", "--run", str(game), "--render", str(out)), "env 'nonmonotonic'",
                          "render_mode='rgb_array'")
    assert out.read_bytes() == b"an earlier file"


@pytest.mark.parametrize("frame, says", [("none", "render() returned NoneType"),
                                         ("missing", "does not implement render()")])
def test_an_env_that_takes_render_mode_but_draws_nothing_is_refused(runs, tmp_path, cli, frame, says):
    env = "tests.envs_for_tests:undrawn_reach_goal"
    run = train(runs, f"random-undrawn-{frame}", "random", env, "env.episode_limit=3", f"env.kwargs.frame={frame}",
                steps=12)
    out = tmp_path / "undrawn.gif"
    assert_one_line_error(cli("eval", "--run", str(run), "--render", str(out)), says)
    assert not out.exists()


def test_multiwalker_renders_its_continuous_walkers_unchanged(runs, tmp_path, cli):
    pytest.importorskip("pettingzoo.sisl")
    run = train(runs, "mappo-multiwalker", "mappo", "multiwalker", "env.episode_limit=30", "algo.rollout_length=60",
                steps=240)
    out = tmp_path / "walkers.gif"
    rendered = eval_json(cli, run, "--render", str(out), "--episodes", "2")
    plain = eval_json(cli, run, "--episodes", "2")
    assert rendered["return_mean"] == plain["return_mean"], "Box actions and Box2D physics, drawn, play the same"
    frames, durations = gif_frames(out)
    expected = rendered["render"]["frames"]
    assert 2 < expected <= 2 * 31 and rendered["render"]["fps"] == 50.0
    assert sum(durations) == expected * 20 and frames[0].shape == (400, 600, 3)
    assert len(frames) >= 0.8 * expected


def test_pistonball_renders_its_screen_not_the_agents_views(runs, tmp_path, cli):
    pytest.importorskip("pettingzoo.butterfly")
    run = train(runs, "qmix-pistonball", "qmix", "pistonball", "env.episode_limit=20", "algo.batch_size=2",
                "test_episodes=2", steps=80)
    out = tmp_path / "pistons.gif"
    rendered = eval_json(cli, run, "--render", str(out), "--episodes", "2")
    plain = eval_json(cli, run, "--episodes", "2")
    assert rendered["return_mean"] == plain["return_mean"]
    frames, durations = gif_frames(out)
    assert rendered["render"] == {"path": str(out), "frames": 2 * 21, "fps": 20.0}
    assert sum(durations) == 42 * 50
    assert frames[0].shape == (560, 280, 3), "the whole screen of 5 pistons, in colour"
    assert len(frames) >= 20, "the pistons and the ball move"


@pytest.mark.parametrize("name", ["fade.gif", "fade.mp4"])
def test_writers_keep_every_frame_of_an_odd_size(tmp_path, name):
    pictures = [np.full((51, 77, 3), 20 * i, np.uint8) for i in range(10)]  # a fade, one grey per frame
    if name.endswith(".mp4"):
        ffmpeg = pytest.importorskip("imageio_ffmpeg")
    writer = animation_writer(tmp_path / name)
    writer.save([writer.keep(p) for p in pictures], fps=30)
    if name.endswith(".gif"):
        frames, durations = gif_frames(writer.path)
        assert durations == [30] * 10, "1/30 s is kept as 30 ms: GIF delays count hundredths"
        assert [int(f[0, 0, 0]) for f in frames] == [20 * i for i in range(10)]
    else:
        reader = ffmpeg.read_frames(str(writer.path))
        assert next(reader)["size"] == (78, 52), "H.264 needs even sides: one column and one row more"
        greys = [np.frombuffer(f, np.uint8).reshape(52, 78, 3)[:51, :77].mean() for f in reader]
        np.testing.assert_allclose(greys, [20 * i for i in range(10)], atol=3)
