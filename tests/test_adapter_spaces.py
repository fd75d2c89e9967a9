"""Composite spaces: MultiDiscrete actions as one Discrete, Tuple/Dict observations as one vector,
images as channel-first arrays, and the errors for spaces the adapter cannot take."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from gymnasium import spaces
from pettingzoo import ParallelEnv

from marlzoo.envs.adapter import PettingZooAdapter
from marlzoo.envs.spaces import ProductCodec, image_layout
from marlzoo.errors import UserError
from tests.adapter_envs import Composite, TakeTurns


def test_multidiscrete_index_maps_back_to_every_component_exactly():
    env = Composite("tuple")
    adapter = PettingZooAdapter(env, "composite")
    assert adapter.spec.n_actions == 12 and adapter.spec.action_sizes == (12, 12)
    expected = list(itertools.product(range(3), range(4)))  # C order: the last component varies fastest
    for k in range(12):
        adapter.reset()
        adapter.step(np.array([k, 11 - k]))
        assert env.received[-1] == {"u": expected[k], "v": expected[11 - k]}


def test_multidiscrete_start_and_multibinary_map_back():
    start = ProductCodec(spaces.MultiDiscrete([2, 3], start=[5, -1]), "e", "a")
    assert [tuple(start.decode(k)) for k in range(6)] == [(5, -1), (5, 0), (5, 1), (6, -1), (6, 0), (6, 1)]
    binary = ProductCodec(spaces.MultiBinary(3), "e", "a")
    assert binary.size == 8 and tuple(binary.decode(5)) == (1, 0, 1)


@pytest.mark.parametrize("kind", ["dict", "dict_joint"])
def test_component_masks_are_flattened_to_match(kind):
    """Per-component masks in the observation, or a joint mask in infos, give the same 12-way mask."""
    env = Composite(kind)
    adapter = PettingZooAdapter(env, "composite")
    adapter.reset()
    first, second = env.component_masks("u")
    joint = [bool(first[i] and second[j]) for i, j in itertools.product(range(3), range(4))]
    assert adapter.avail[0].tolist() == joint
    assert adapter.avail[1].all()
    for k in np.flatnonzero(adapter.avail[0]):  # the env asserts no masked action reaches it
        adapter.reset()
        adapter.step(np.array([k, 0]))


def test_tuple_of_masks_is_accepted():
    codec = ProductCodec(spaces.MultiDiscrete([2, 3]), "e", "a")
    mask = codec.mask((np.array([1, 0]), np.array([0, 1, 1])))
    assert mask.tolist() == [False, True, True, False, False, False]
    with pytest.raises(UserError, match=r"env 'e', agent 'a': an action_mask of 4 entries does not fit"):
        codec.mask(np.ones(4))


def test_dict_observation_is_flattened_without_its_action_mask():
    adapter = PettingZooAdapter(Composite("dict"), "composite")
    # flags (MultiBinary 3) + mode (Discrete 2, one-hot) + pos (Box 2); Dict keys in sorted order
    assert adapter.spec.obs_shape == (7,)
    adapter.reset()
    np.testing.assert_array_equal(adapter.obs[1], [1, 0, 1, 0, 1, 0, 1])
    adapter.step(np.array([1, 1]))
    np.testing.assert_allclose(adapter.obs[0], [1, 0, 0, 1, 0, 0.1, 0])


def test_tuple_of_boxes_is_one_vector():
    adapter = PettingZooAdapter(Composite("tuple"), "composite")
    adapter.reset()
    assert adapter.spec.obs_shape == (5,)
    np.testing.assert_array_equal(adapter.obs[1], [0, -1, 1, 1, 2])
    assert any("Tuple flattened" in note for note in adapter.spec.transforms)


class _Images(ParallelEnv):
    """Two agents that see a constant image in the layout and dtype given."""

    metadata = {"name": "images_v0"}

    def __init__(self, shape, dtype=np.uint8, high=255):
        self.possible_agents = ["p", "q"]
        self.space = spaces.Box(0, high, shape, dtype)
        self.image = (np.arange(np.prod(shape)) % (high + 1)).reshape(shape).astype(dtype)
        self.max_cycles = 2

    def observation_space(self, agent):
        return self.space

    def action_space(self, agent):
        return spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        self.agents = list(self.possible_agents)
        return {a: self.image for a in self.agents}, {a: {} for a in self.agents}


@pytest.mark.parametrize(
    "shape, expected",
    [((12, 10, 3), (3, 12, 10)), ((3, 12, 10), (3, 12, 10)), ((12, 10), (1, 12, 10)), ((12, 10, 4), (4, 12, 10))],
)
def test_images_are_stored_channel_first_and_scaled(shape, expected):
    env = _Images(shape)
    adapter = PettingZooAdapter(env, "images")
    assert adapter.spec.obs_shape == expected
    adapter.reset()
    image = env.image.astype(np.float32) / 255.0
    if len(shape) == 2:
        image = image[None]
    elif shape[-1] < shape[0]:
        image = image.transpose(2, 0, 1)
    np.testing.assert_allclose(adapter.obs[0], image, rtol=1e-6)
    assert adapter.state.shape == (2 * int(np.prod(expected)),)


def test_float_images_that_are_not_pixels_are_not_scaled():
    env = _Images((9, 9, 2), dtype=np.float32, high=1)
    adapter = PettingZooAdapter(env, "images")
    adapter.reset()
    np.testing.assert_array_equal(adapter.obs[1], env.image.transpose(2, 0, 1))


def test_small_or_non_image_boxes_are_flattened():
    assert image_layout((4, 4, 3)) is None and image_layout((5, 7)) is None and image_layout((2, 3, 4, 5)) is None
    env = _Images((4, 4, 3), dtype=np.float32, high=1)
    adapter = PettingZooAdapter(env, "images")
    assert adapter.spec.obs_shape == (48,)
    adapter.reset()
    np.testing.assert_array_equal(adapter.obs[0], env.image.reshape(-1))


class _Custom(ParallelEnv):
    """Agents with the spaces given, to check what the adapter refuses."""

    metadata = {"name": "custom_v0"}

    def __init__(self, obs: dict, act: dict, max_cycles=3):
        self.possible_agents = list(obs)
        self._o, self._a = obs, act
        self.max_cycles = max_cycles

    def observation_space(self, agent):
        return self._o[agent]

    def action_space(self, agent):
        return self._a[agent]

    def reset(self, seed=None, options=None):
        self.agents = list(self.possible_agents)
        return {a: self._o[a].sample() for a in self.agents}, {}

    def step(self, actions):
        self.agents = []
        return {}, {}, {}, {}, {}


BOX = spaces.Box(0, 1, (3,), np.float32)


@pytest.mark.parametrize(
    "obs, act, message",
    [
        ({"a": spaces.Dict({"x": BOX, "t": spaces.Text(4)})}, {"a": spaces.Discrete(2)},
         r"env 'custom', agent 'a': observation space Dict.*part Text.*supersuit.observation_lambda_v0"),
        ({"a": spaces.Sequence(BOX)}, {"a": spaces.Discrete(2)},
         r"agent 'a': observation space Sequence.*observation_lambda_v0"),
        ({"a": BOX}, {"a": spaces.MultiDiscrete([100, 100])},
         r"agent 'a': action space MultiDiscrete\(\[100 100\]\) has 10000 combinations.*action_lambda_v1"),
        ({"a": BOX}, {"a": spaces.Tuple((spaces.Discrete(2), spaces.Discrete(2)))},
         r"agent 'a': action space Tuple.*not supported"),
        ({"a": BOX}, {"a": spaces.Box(-1, 1, (2, 2))}, r"agent 'a': action space Box.*action_lambda_v1"),
        ({"a": BOX, "b": BOX}, {"a": spaces.Discrete(2), "b": spaces.Box(-1, 1, (2,))},
         r"env 'custom' mixes discrete and continuous agents \('a': discrete, 'b': continuous\).*action_lambda_v1"),
        ({"a": spaces.Box(0, 255, (16, 16, 3), np.uint8), "b": spaces.Box(0, 255, (8, 16, 3), np.uint8)},
         {"a": spaces.Discrete(2), "b": spaces.Discrete(2)},
         r"image observations must have one shape.*'a': \(3, 16, 16\), 'b': \(3, 8, 16\).*resize_v1"),
        ({"a": spaces.Box(0, 255, (16, 16, 3), np.uint8), "b": BOX},
         {"a": spaces.Discrete(2), "b": spaces.Discrete(2)}, r"image observations must have one shape"),
    ],
)
def test_unsupported_spaces_say_env_agent_space_and_what_to_do(obs, act, message):
    with pytest.raises(UserError, match=message):
        PettingZooAdapter(_Custom(obs, act), "custom")


def test_turn_based_game_with_box_actions_is_refused():
    class BoxTurns(TakeTurns):
        def action_space(self, agent):
            return spaces.Box(-1, 1, (2,))

    with pytest.raises(UserError, match=r"env 'bt' is a turn-based AECEnv with continuous actions"):
        PettingZooAdapter(BoxTurns(), "bt", episode_limit=5)


def test_gymnasium_env_and_strangers_are_refused():
    import gymnasium

    with pytest.raises(UserError, match=r"env 'cartpole' is a single-agent Gymnasium env"):
        PettingZooAdapter(gymnasium.make("CartPole-v1"), "cartpole")
    with pytest.raises(UserError, match=r"env 'x' is a dict, not a PettingZoo"):
        PettingZooAdapter({}, "x")


def test_agent_outside_possible_agents_and_wrong_observation_shape_are_named():
    class Intruder(_Custom):
        def reset(self, seed=None, options=None):
            self.agents = ["a", "z"]
            return {"a": BOX.sample(), "z": BOX.sample()}, {}

    with pytest.raises(UserError, match=r"env 'i' returned agent 'z', which is not in possible_agents \['a'\]"):
        PettingZooAdapter(Intruder({"a": BOX}, {"a": spaces.Discrete(2)}), "i").reset()

    class Liar(_Custom):
        def reset(self, seed=None, options=None):
            self.agents = ["a"]
            return {"a": np.zeros(5, np.float32)}, {}

    with pytest.raises(UserError, match=r"env 'l', agent 'a': an observation of shape \(5,\) does not fit"):
        PettingZooAdapter(Liar({"a": BOX}, {"a": spaces.Discrete(2)}), "l").reset()


def test_image_state_falls_back_to_the_observations():
    class ScreenState(_Images):
        def state(self):
            return np.zeros((64, 64, 3), np.uint8)

    adapter = PettingZooAdapter(ScreenState((12, 10, 3)), "screen")
    assert adapter.spec.state_source == "concatenated observations"
    assert any("env.state() is an image" in note for note in adapter.spec.transforms)
    forced = PettingZooAdapter(ScreenState((12, 10, 3)), "screen", state="env")
    assert forced.spec.state_dim == 64 * 64 * 3


def test_old_pettingzoo_api_is_named():
    class OldReset(_Custom):
        def reset(self, seed=None, options=None):
            self.agents = ["a"]
            return {"a": BOX.sample()}

    class OldStep(_Custom):
        def step(self, actions):
            return {}, {}, {}, {}

    with pytest.raises(UserError, match=r"env 'old': reset\(\) returned dict, not \(observations, infos\).*1.24"):
        PettingZooAdapter(OldReset({"a": BOX}, {"a": spaces.Discrete(2)}), "old").reset()
    adapter = PettingZooAdapter(OldStep({"a": BOX}, {"a": spaces.Discrete(2)}), "old")
    adapter.reset()
    with pytest.raises(UserError, match=r"env 'old': step\(\) returned tuple of 4 items.*1.24"):
        adapter.step(np.array([0]))


def test_scale_obs_maps_finite_box_bounds_onto_zero_one_and_leaves_other_spaces_alone():
    from marlzoo.envs.spaces import BoundsCodec, VectorCodec, observation_codec

    box = spaces.Box(np.array([-1, 0, 2], np.float32), np.array([7, 4, 2], np.float32), dtype=np.float32)
    codec = observation_codec(box, "e", "a", scale_obs=True)
    assert isinstance(codec, BoundsCodec) and codec.note == "Box scaled from its bounds to [0, 1]"
    row = np.full(4, 9.0, dtype=np.float32)
    codec.write(np.array([-1.0, 4.0, 2.0]), row)
    assert row[:3].tolist() == [0.0, 1.0, 0.0] and row[3] == 9.0  # a fixed entry (low == high) is 0
    codec.write(np.array([3.0, 1.0, 2.0]), row)
    assert row[:3].tolist() == [0.5, 0.25, 0.0]
    assert isinstance(observation_codec(box, "e", "a"), VectorCodec), "off by default"
    unbounded = spaces.Box(-np.inf, np.inf, (3,), np.float32)
    assert isinstance(observation_codec(unbounded, "e", "a", scale_obs=True), VectorCodec)
    pixels = spaces.Box(0, 255, (16, 16, 3), np.uint8)
    assert observation_codec(pixels, "e", "a", scale_obs=True).image


def test_gymnasium_multiagent_env_with_per_agent_flags_and_a_shared_reward():
    from marlzoo.envs.adapter import GymnasiumMultiAgentAdapter, make_adapter
    from tests.adapter_envs import Relay

    env = Relay()
    adapter = make_adapter(env, "relay", reward_aggregation="mean")
    assert isinstance(adapter, GymnasiumMultiAgentAdapter)
    assert adapter.spec.agents == ("agent_0", "agent_1", "agent_2") and adapter.spec.episode_limit == 10
    adapter.reset(seed=0)
    assert adapter.alive.all() and adapter.obs[:, 0].tolist() == [0, 1, 2]
    reward, terminated, truncated = adapter.step(np.array([2, 1, 1]))
    assert reward == 1.5, "one shared reward is the team reward, under either aggregation"
    assert (terminated, truncated) == (False, False)
    assert adapter.alive.tolist() == [False, True, True]  # agent_0 left: zeros, and only action 0
    assert not adapter.obs[0].any() and adapter.avail[0].tolist() == [True, False, False]
    adapter.step(np.array([0, 2, 1]))
    assert env.received[-1] == (0, 2, 1), "a departed agent's action 0 still reaches the env"
    assert adapter.alive.tolist() == [False, False, True]
    assert adapter.step(np.array([0, 0, 2])) == (1.5, True, False)  # the last agent leaves: terminated
    assert not adapter.alive.any()
    with pytest.raises(UserError, match="has no state\\(\\)"):
        make_adapter(Relay(), "relay", state="env")
